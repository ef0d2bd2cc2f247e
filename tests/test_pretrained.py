import re
from urllib.error import URLError

import pytest
import torch
from torchvision.models import densenet121, vgg16

from musical_inpaint.backbones import IMAGENET_MEAN, IMAGENET_STD, PretrainedWeightsError
from musical_inpaint.losses import VGG16Features
from musical_inpaint.losses.vgg import POOL_ENDS
from musical_inpaint.models import DenseNetDiscriminator


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A VGG16 state dict holding the layers up to pool3, as a user might keep it offline."""
    torch.manual_seed(0)
    state = {k: v for k, v in vgg16().state_dict().items() if k.startswith("features.") and int(k.split(".")[1]) < 17}
    path = tmp_path_factory.mktemp("weights") / "vgg16-397923af.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def densenet_file(tmp_path_factory):
    """A DenseNet121 state dict with the legacy key names of torchvision's published file."""
    torch.manual_seed(0)
    state = densenet121().state_dict()
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key): value for key, value in state.items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = tmp_path_factory.mktemp("weights") / "densenet121-a639ec97.pth"
    torch.save(legacy, path)
    return path, state


def test_vgg_weights_from_a_local_file(vgg_file):
    path, state = vgg_file
    features = VGG16Features(weights=str(path))
    torch.testing.assert_close(features.stages[2][0].weight, state["features.10.weight"])


def test_vgg_is_torchvisions_up_to_pool3_and_reads_its_whole_file(tmp_path):
    """The loss builds only the layers it uses; a whole torchvision VGG16 file (classifier and
    all) still loads, and the features equal torchvision's own network's on the same input."""
    torch.manual_seed(0)
    whole = vgg16().eval()
    torch.save(whole.state_dict(), tmp_path / "vgg16-397923af.pth")
    ours = VGG16Features(weights=str(tmp_path / "vgg16-397923af.pth"))
    assert [repr(m) for stage in ours.stages for m in stage] == [repr(m) for m in whole.features[:17]]
    image = torch.rand(2, 3, 40, 48) * 2 - 1
    # torchvision's normalisation, literally, of the [0, 1] image
    normalised = ((image + 1) / 2 - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
        :, None, None
    ]
    expected = [whole.features[:end](normalised) for end in POOL_ENDS]
    for got, want in zip(ours(image), expected):
        torch.testing.assert_close(got, want)
    # Random initialisation as torchvision's: He-normal (fan out) convolutions, zero biases.
    fresh = VGG16Features(weights=None).stages[1][0]
    assert fresh.bias.abs().max() == 0 and fresh.weight.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.05)


def test_discriminator_weights_from_a_legacy_named_file(densenet_file):
    path, state = densenet_file
    discriminator = DenseNetDiscriminator(weights=path)
    loaded = discriminator.features.denseblock1.denselayer1.norm1.weight
    torch.testing.assert_close(loaded, state["features.denseblock1.denselayer1.norm1.weight"])


def test_imagenet_weights_through_torchvisions_cache(vgg_file, densenet_file, tmp_path, monkeypatch):
    # torchvision's weights API reads its hub cache before trying the network.
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for path, _ in (vgg_file, densenet_file):
        (checkpoints / path.name).symlink_to(path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    features = VGG16Features(weights="imagenet")
    torch.testing.assert_close(features.stages[0][0].weight, vgg_file[1]["features.0.weight"])
    discriminator = DenseNetDiscriminator(weights=True)
    torch.testing.assert_close(discriminator.features.conv0.weight, densenet_file[1]["features.conv0.weight"])


def test_random_initialisation_only_when_asked():
    assert DenseNetDiscriminator(weights=None)(torch.zeros(1, 3, 64, 64)).shape == (1, 256, 2, 2)


def test_offline_imagenet_request_names_the_option(tmp_path, monkeypatch):
    # No network, as torch.hub meets it: the download's request fails with a URLError (an OSError).
    requested = []

    def offline(request, *args, **kwargs):
        requested.append(request.full_url)
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    cache = tmp_path / "hub" / "checkpoints"
    with pytest.raises(PretrainedWeightsError) as vgg:
        VGG16Features(weights="imagenet")
    assert re.search(
        rf"model.loss.vgg_weights: cannot obtain ImageNet weights .*name resolution.*place it at "
        rf"{cache}/vgg16-397923af.pth or set model.loss.vgg_weights=/path/to/vgg16-397923af.pth",
        str(vgg.value),
    )
    with pytest.raises(PretrainedWeightsError, match="pretrained=false .* model.discriminator.weights=null"):
        DenseNetDiscriminator(weights="imagenet")
    assert [url.rsplit("/", 1)[-1] for url in requested] == ["vgg16-397923af.pth", "densenet121-a639ec97.pth"]
    assert not list(cache.iterdir())  # no partial download left in the cache


def test_bad_weight_files_get_clear_errors(tmp_path, vgg_file):
    with pytest.raises(
        PretrainedWeightsError, match=r"model.loss.vgg_weights: weights file .*missing.pth does not exist"
    ):
        VGG16Features(weights=tmp_path / "missing.pth")
    with pytest.raises(
        PretrainedWeightsError, match=rf"model.discriminator.weights: the weights in .*{vgg_file[0].name} do not fit"
    ):
        DenseNetDiscriminator(weights=vgg_file[0])
    tensor_file = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(PretrainedWeightsError, match="holds a Tensor, expected a state dict"):
        VGG16Features(weights=tensor_file)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="cannot read weights file"):
        VGG16Features(weights=garbage)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_weight_files_cannot_execute_code(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Payload()}, path)
    with pytest.raises(PretrainedWeightsError, match="cannot read weights file"):
        VGG16Features(weights=path)
    assert "this must never run" not in capsys.readouterr().out
