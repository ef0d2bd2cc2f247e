"""Composed training configurations for tests: the real Hydra config with a CPU-sized model."""

from musical_inpaint.config import compose_config

# A CPU-sized model and dataset for every test that trains, with every loss term of the paper and
# a constant learning rate, no time limit (the quickstart drops the VGG16 terms and decays the
# rate by steps or by its 6 minutes).
TINY = [
    "experiment=quickstart",
    "style_weight=250",
    "perceptual_weight=0.07",
    "lr_schedule=constant",
    "trainer.max_time=null",
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
    return compose_config("train", overrides)


def tiny_config(tmp_path, *overrides):
    return compose_train(TINY + [f"paths.output_dir={tmp_path}", *overrides])
