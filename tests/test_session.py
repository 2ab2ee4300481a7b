import importlib

import torch

from nstbatch.exporter.cache import feature_session
from nstbatch.onnx.session import cache_dir
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer
from conftest import invoke

LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def test_features_match_torch_and_model_is_cached(tmp_path, monkeypatch, vgg, photo):
    monkeypatch.setenv("NSTBATCH_CACHE", str(tmp_path / "cache"))
    exports = []
    session_module = importlib.import_module("nstbatch.exporter.cache")
    real_export = session_module.export
    monkeypatch.setattr(session_module, "export", lambda *a, **k: exports.append(1) or real_export(*a, **k))

    first = feature_session(LAYERS)
    assert first.model_path.parent == cache_dir() == tmp_path / "cache"
    got = first(photo, ["relu3_1", "relu1_1"])
    want = vgg(photo, ["relu1_1", "relu3_1"])
    assert list(got) == ["relu1_1", "relu3_1"]
    for name in got:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-4 * float(want[name].abs().max()))

    second = feature_session(LAYERS)
    assert second.model_path == first.model_path
    assert len(exports) == 1  # built once, reused
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.model_path.name]  # no leftovers


def test_onnx_and_torch_targets_give_the_same_picture(tmp_path, monkeypatch, photo, painting):
    """Targets differ by ~1e-6 relative; after 10 L-BFGS steps the pictures agree within 2e-3."""
    monkeypatch.setenv("NSTBATCH_CACHE", str(tmp_path / "cache"))
    opts = Options(iterations=10)
    by_torch = StyleTransfer([painting], opts)(photo)
    by_onnx = StyleTransfer([painting], opts, target_features=feature_session(opts.content_layers + opts.style_layers))(photo)
    assert float((by_torch.image - by_onnx.image).abs().max()) < 2e-3
    assert abs(by_torch.losses["total"] - by_onnx.losses["total"]) < 1e-3 * by_torch.losses["total"]


def test_run_with_onnx_targets_and_info(tmp_path, monkeypatch, files):
    monkeypatch.setenv("NSTBATCH_CACHE", str(tmp_path / "cache"))
    inputs, style = files
    result = invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(tmp_path / "out"),
                                      "--size", "32", "--iterations", "3", "--targets", "onnx", "--providers", "cpu"])
    assert result.exit_code == 0, result.output
    assert "targets by onnxruntime on CPUExecutionProvider" in result.output and "2 done" in result.output
    bad = invoke(*["run", "-i", str(inputs), "-s", str(style), "-o", str(tmp_path / "o2"),
                                   "--targets", "onnx", "--providers", "rocm"])
    assert bad.exit_code == 2 and "unknown execution provider 'rocm'" in bad.output
    info = invoke(*["info"])
    assert info.exit_code == 0
    assert "CPUExecutionProvider   loads" in info.output and str(tmp_path / "cache") in info.output
