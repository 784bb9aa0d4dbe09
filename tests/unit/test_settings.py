import pytest

from attune.services.common.settings import CommonSettings, SettingsError, load
from attune.services.model.settings import ModelSettings


def test_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("ATTUNE_MODEL_MAX_BATCH", "lots")
    with pytest.raises(SettingsError, match="ATTUNE_MODEL_MAX_BATCH='lots'"):
        load(ModelSettings)


def test_unknown_backend_is_refused(monkeypatch):
    monkeypatch.setenv("ATTUNE_MODEL_BACKEND", "llamafile")
    with pytest.raises(SettingsError, match="ATTUNE_MODEL_BACKEND"):
        load(ModelSettings)


def test_values_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTUNE_MODEL_PORT", "6000")
    monkeypatch.setenv("ATTUNE_DATA_DIR", str(tmp_path))
    assert load(ModelSettings).port == 6000
    assert load(CommonSettings).data_dir == tmp_path
