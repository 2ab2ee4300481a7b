import logging

import pytest

from nstbatch.errors import UsageError
from nstbatch.onnx import providers
from nstbatch.onnx.providers import provider_status
from nstbatch.onnx.providers import CPU, CUDA, TENSORRT, create_session, parse, wanted

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "AzureExecutionProvider", "CPUExecutionProvider"]


def test_best_available_in_order_with_cpu_last():
    assert wanted(None, ALL) == [TENSORRT, CUDA, CPU]
    assert wanted(None, [CUDA, CPU]) == [CUDA, CPU]
    assert wanted(None, [CPU]) == [CPU]


def test_explicit_list_wins_but_cpu_stays_last():
    assert wanted([CPU, CUDA], ALL) == [CUDA, CPU]
    assert wanted([CUDA], ALL) == [CUDA, CPU]
    assert wanted([CPU], ALL) == [CPU]


def test_explicit_provider_this_build_lacks_is_a_usage_error():
    with pytest.raises(UsageError, match="not TensorrtExecutionProvider"):
        wanted([TENSORRT], [CPU])


def test_parse_aliases():
    assert parse("TensorRT, cuda,cpu") == [TENSORRT, CUDA, CPU]
    assert parse("trt,trt") == [TENSORRT]
    assert parse(None) is None
    with pytest.raises(UsageError, match="unknown execution provider 'rocm'"):
        parse("rocm")


class FakeOrt:
    """An onnxruntime-gpu that lists CUDA and TensorRT, whose sessions then run on the CPU only."""

    def __init__(self, listed, loads):
        self.listed, self.loads = listed, loads
        self.asked = None
        self.sessions = 0

    def get_available_providers(self):
        return self.listed

    def SessionOptions(self):  # noqa: N802 (onnxruntime's name)
        return type("Options", (), {})()

    def InferenceSession(self, model, providers, sess_options=None):  # noqa: N802 (onnxruntime's name)
        self.asked = providers
        self.sessions += 1
        running = [p[0] if isinstance(p, tuple) else p for p in providers]
        fake = type("Session", (), {})()
        fake.get_providers = lambda: [p for p in running if p in self.loads]
        return fake


def test_session_reports_what_really_runs_and_logs_it_once(caplog, tmp_path):
    ort = FakeOrt(ALL, loads={CPU})
    with caplog.at_level(logging.INFO, logger="nstbatch"):
        _, running = create_session("m.onnx", [TENSORRT, CUDA], cache_dir=tmp_path / "trt", fp16=True, ort=ort)
        create_session("m.onnx", [TENSORRT, CUDA], cache_dir=tmp_path / "trt", fp16=True, ort=ort)
    assert running == [CPU]
    assert [name for name, _ in ort.asked] == [TENSORRT, CUDA, CPU]
    trt_options = dict(ort.asked)[TENSORRT]
    assert trt_options["trt_fp16_enable"] is True and trt_options["trt_engine_cache_path"] == str(tmp_path / "trt")
    lines = [r.getMessage() for r in caplog.records if "onnxruntime runs on" in r.getMessage()]
    assert lines == ["onnxruntime runs on CPUExecutionProvider (TensorrtExecutionProvider, CUDAExecutionProvider could not load)"]


def test_default_asks_only_for_providers_that_load():
    ort = FakeOrt(ALL, loads={CPU, CUDA})
    _, running = create_session("m.onnx", ort=ort)
    assert [name for name, _ in ort.asked] == [CUDA, CPU]  # TensorRT is listed but did not load in the probe
    assert running == [CUDA, CPU]


def test_a_cpu_only_onnxruntime_paints_without_a_probe_session():
    # the CPU always runs: probing it cost a session (5-15 ms) on every one-photo run
    ort = FakeOrt([CPU], loads={CPU})
    create_session("m.onnx", ort=ort)
    assert ort.sessions == 1 and [name for name, _ in ort.asked] == [CPU]
    gpu = FakeOrt(ALL, loads={CPU, CUDA})
    create_session("m.onnx", ort=gpu)
    assert gpu.sessions == 3  # TensorRT and CUDA probed, then the session


def test_provider_status_tells_listed_from_loading(monkeypatch):
    fake = FakeOrt(ALL, loads={CPU, CUDA})
    status = provider_status(fake)
    assert status[CPU] == "loads" and status[CUDA] == "loads"
    assert status[TENSORRT] == "listed, but cannot load here"
    assert status["AzureExecutionProvider"].startswith("listed (not used")


def test_real_onnxruntime_here_runs_on_cpu():
    assert provider_status()[CPU] == "loads"
    providers._logged.clear()
