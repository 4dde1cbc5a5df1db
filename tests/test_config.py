import pytest

from medseg.config import apply_overrides, config_from_dict, load_config, save_config
from medseg.errors import ConfigError


def test_packaged_configs_load():
    for name in ("hc18_unet", "hc18_unet_paper", "demo"):
        config = load_config(name)
        assert config.data.layout == "hc18" and config.data.class_names == ["background", "head"]
    paper = load_config("hc18_unet_paper")
    assert (paper.train.optimizer, paper.train.lr, paper.train.epochs, paper.train.batch_size) == ("sgd", 1e-3, 20, 4)
    assert paper.data.patch_size


def test_unknown_key_names_file_and_valid_keys(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.train: unknown key 'learning_rate'; valid keys: epochs"):
        load_config(path)


def test_wrong_types_and_yaml_numbers():
    assert config_from_dict({"train": {"lr": "1e-3"}}).train.lr == 1e-3
    with pytest.raises(ConfigError, match="train.epochs"):
        config_from_dict({"train": {"epochs": "many"}})
    with pytest.raises(ConfigError, match="top level"):
        config_from_dict([1, 2])


def test_overrides():
    values = apply_overrides({"train": {"lr": 1}}, ["train.lr=1e-2", "model.params.channels=[8,16]"])
    assert values["model"]["params"]["channels"] == [8, 16]
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["lr"])
    with pytest.raises(ConfigError, match="name the section"):
        apply_overrides({}, ["lr=1"])


def test_missing_config_lists_packaged(tmp_path):
    with pytest.raises(ConfigError, match="packaged configs: .*hc18_unet"):
        load_config(tmp_path / "nope.yaml")


def test_round_trip(tmp_path):
    config = load_config("hc18_unet", ["train.epochs=3"])
    save_config(config, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == config


def test_min_lesion_volume_is_a_volume_of_at_least_zero():
    assert config_from_dict({}).eval.min_lesion_volume_mm3 == 65.0
    assert config_from_dict({"eval": {"min_lesion_volume_mm3": 0}}).eval.min_lesion_volume_mm3 == 0.0
    for bad in (-1, ".nan", "small"):
        with pytest.raises(ConfigError, match=r"eval\.min_lesion_volume_mm3"):
            config_from_dict({"eval": {"min_lesion_volume_mm3": bad}})
