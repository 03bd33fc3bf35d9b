"""Shipped checkpoints: safetensors + manifest, verified by sha256 on load."""

import json

import pytest
import torch

from course import checkpoints


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))


def test_round_trip_in_bf16_with_manifest(tmp_path):
    model = _model()
    info = checkpoints.save("toy", model, {"config": {"dim": 4}, "steps": 7, "metrics": {"ppl": 12.5}},
                            folder=tmp_path)
    assert info["sha256"] == checkpoints.sha256(tmp_path / "toy.safetensors")
    assert json.loads((tmp_path / "toy.json").read_text())["steps"] == 7
    state, manifest = checkpoints.load("toy", folder=tmp_path)
    assert manifest["config"] == {"dim": 4} and manifest["dtype"] == "bfloat16"
    for key, value in model.state_dict().items():
        assert state[key].dtype == torch.float32
        assert torch.allclose(state[key], value, atol=1e-2), key  # bf16 keeps ~3 digits
    assert not (tmp_path / "toy.safetensors").read_bytes().startswith(b"\x80")  # not a pickle


def test_corrupt_and_missing_files_are_one_clear_line(tmp_path):
    checkpoints.save("toy", _model(), {}, folder=tmp_path)
    weights = tmp_path / "toy.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(checkpoints.CheckpointError, match="corrupt: its sha256 does not match"):
        checkpoints.load("toy", folder=tmp_path)
    weights.unlink()
    with pytest.raises(checkpoints.CheckpointError, match="is missing"):
        checkpoints.load("toy", folder=tmp_path)
    with pytest.raises(checkpoints.CheckpointError, match="run `course pretrain nope`"):
        checkpoints.load("nope", folder=tmp_path)


def test_unknown_pretrain_name():
    with pytest.raises(checkpoints.CheckpointError, match="nothing to pretrain called 'bert'"):
        checkpoints.pretrain("bert", 1)


@pytest.mark.parametrize("name", sorted(checkpoints.PRETRAINABLE))
def test_shipped_checkpoint_verifies_and_says_how_it_was_made(name):
    """Every checkpoint the course ships: sha256 as its manifest says, bf16 safetensors within
    the 25 MB budget, and a manifest that records how it was made and what it scored."""
    state, manifest = checkpoints.load(name)  # raises on a sha256 mismatch
    weights = checkpoints.SHIPPED / manifest["file"]
    assert weights.stat().st_size == manifest["bytes"] <= 25 * 2**20, weights
    assert manifest["dtype"] == "bfloat16" and manifest["name"] == name
    assert manifest["command"].startswith(f"course pretrain {name}"), manifest["command"]
    for key in ("config", "data", "hardware", "torch", "steps", "wall_s", "metrics", "vocab", "source"):
        assert manifest.get(key), f"{name}.json: no {key!r}"
    assert len(manifest["vocab"]) == manifest["config"]["vocab_size"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_shipped_awd_lstm_loads_into_the_chapters_model():
    """The chapter's `new_lm` rebuilds the network from the manifest and takes every weight."""
    from course import loader, release

    namespace = loader.load_definitions(release.find("05_ulmfit").source)
    state, manifest = checkpoints.load("awd_lstm")
    cfg = {"model": manifest["config"]["model"], "output_p": manifest["config"]["output_p"]}
    lm = namespace["new_lm"](manifest["config"]["vocab_size"], cfg)
    lm.load_state_dict(state)  # strict: same names, same shapes
    assert lm.decoder.weight is lm.encoder.embed.weight  # still tied after loading
