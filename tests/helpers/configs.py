"""Composed training configurations for tests: the real Hydra config with a CPU-sized model."""

from hydra import compose, initialize_config_dir

from tests.helpers import CONFIG_DIR

# A CPU-sized model and dataset for every test that trains, with every loss term of the paper and
# a constant learning rate (the quickstart drops the VGG16 terms and decays the rate).
TINY = [
    "experiment=quickstart",
    "style_weight=250",
    "perceptual_weight=0.07",
    "model.lr_schedule=constant",
    "crop_size=32",
    "model.generator.base_channels=4",
    "model.generator.dilated_blocks=1",
    "dataset.train_size=8",
    "dataset.val_size=2",
    "dataset.batch_size=2",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "model.val_images=2",
]


def compose_train(overrides):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def tiny_config(tmp_path, *overrides):
    return compose_train(TINY + [f"paths.output_dir={tmp_path}", *overrides])
