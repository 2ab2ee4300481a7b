"""Export then validate, on small layer sets so each export takes a second or two."""

import importlib
import json

import onnx
import pytest
from onnx import numpy_helper

from nstbatch.exporter import FeatureSpec, StylizerSpec, ValidationError, export, validate
from nstbatch.runtime.weights import load_weights
from conftest import invoke

SMALL = ("relu1_1", "relu2_1")


def test_export_honours_the_contract(tmp_path):
    spec = FeatureSpec(layers=SMALL)
    path = export(spec, tmp_path / "m.onnx")
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == list(SMALL)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["layers"] == "relu1_1,relu2_1" and meta["precision"] == "fp32"
    assert meta["weights_sha256"] == load_weights().sha256 and meta["nstbatch_version"]
    report = validate(path, spec)
    assert len(report.rows) == 2 * len(SMALL) and all(r.ok for r in report.rows)
    assert {r.shape for r in report.rows} == {(2, 3, 64, 80), (2, 3, 96, 72)}
    assert max(r.max_rel for r in report.rows) <= 1e-4
    assert "CPUExecutionProvider" in report.providers


def test_fp16_model_is_half_precision_inside_and_within_its_tolerance(tmp_path):
    spec = FeatureSpec(layers=SMALL, fp16=True)
    report = validate(export(spec, tmp_path / "h.onnx"), spec)
    worst = max(r.max_rel for r in report.rows)
    assert 1e-5 < worst <= 1e-2  # above float32's error: the arithmetic really is in half precision
    model = onnx.load(str(tmp_path / "h.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 IO
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)


def _perturb_first_conv(path, factor):
    model = onnx.load(str(path))
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        if array.ndim == 4 and array.shape[:2] == (64, 3):
            init.CopyFrom(numpy_helper.from_array(array * factor, init.name))
            break
    else:
        raise AssertionError("no conv1_1 weight found")
    onnx.save(model, str(path))


def test_perturbed_model_fails_with_the_whole_table(tmp_path):
    spec = FeatureSpec(layers=SMALL)
    path = export(spec, tmp_path / "m.onnx")
    _perturb_first_conv(path, 1.001)  # 1e-3 relative: ten times the tolerance
    with pytest.raises(ValidationError) as info:
        validate(path, spec)
    message = str(info.value)
    assert message.count("FAIL") == 4 and "relu1_1" in message and "relu2_1" in message


def test_wrong_outputs_are_caught_before_running(tmp_path):
    path = export(FeatureSpec(layers=SMALL), tmp_path / "m.onnx")
    with pytest.raises(ValidationError, match="outputs are"):
        validate(path, FeatureSpec(layers=("relu1_1", "relu3_1")))


def test_cli_export_validates_and_a_bad_export_exits_1(tmp_path, monkeypatch):
    good = invoke(*["export", "vgg19", "-o", str(tmp_path / "good.onnx"), "--layers", "relu1_1,relu2_1"])
    assert good.exit_code == 0, good.output
    assert "is within 0.0001 of its largest value (relative)" in good.output and (tmp_path / "good.onnx").exists()

    spec_module = importlib.import_module("nstbatch.exporter.spec")
    exported_graph = spec_module.FeatureSpec.graph

    def broken_graph(spec):  # what a bug in the export path would look like; the torch reference stays right
        graph = exported_graph(spec)
        graph.features.conv2_1_weight = graph.features.conv2_1_weight * 1.001
        return graph

    monkeypatch.setattr(spec_module.FeatureSpec, "graph", broken_graph)
    bad = invoke(*["export", "vgg19", "-o", str(tmp_path / "bad.onnx"), "--layers", "relu1_1,relu2_1"])
    assert bad.exit_code == 1
    assert "FAIL" in bad.output and "relu2_1" in bad.output
    assert not (tmp_path / "bad.onnx").exists() and (tmp_path / "bad.onnx.invalid").exists()


def test_no_validate_skips_validation(tmp_path, monkeypatch):
    import nstbatch.exporter

    calls = []

    def counted(path, spec, providers=None):  # a validation that would fail: called, the export is refused
        calls.append(path)
        raise ValidationError("validated")

    monkeypatch.setattr(nstbatch.exporter, "validate", counted)
    result = invoke("export", "vgg19", "-o", tmp_path / "m.onnx", "--layers", "relu1_1", "--no-validate")
    assert result.exit_code == 0 and "valid:" not in result.output and calls == []
    assert (tmp_path / "m.onnx").is_file()
    checked = invoke("export", "vgg19", "-o", tmp_path / "c.onnx", "--layers", "relu1_1")
    assert checked.exit_code != 0 and calls == [tmp_path / "c.onnx"] and not (tmp_path / "c.onnx").exists()


def test_exported_graph_runs_only_to_the_deepest_layer(tmp_path):
    model = onnx.load(str(export(FeatureSpec(layers=("relu2_1",)), tmp_path / "m.onnx")))
    assert sum(node.op_type == "Conv" for node in model.graph.node) == 3  # conv1_1, conv1_2, conv2_1


def test_stylizer_export_honours_its_contract(tmp_path, tiny_model):
    model_dir, _ = tiny_model
    spec = StylizerSpec(checkpoint=model_dir / "model.safetensors")
    path = export(spec, tmp_path / "s.onnx")
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image", "style"]
    assert [o.name for o in model.graph.output] == ["stylized"]
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.input) + list(model.graph.output)}
    assert dims == {"image": ["batch", 3, "height", "width"], "style": ["batch", 2],
                    "stylized": ["batch", 3, "height", "width"]}
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["kind"] == "nstbatch-stylizer" and json.loads(meta["styles"]) == ["stripes", "dots"]
    assert json.loads(meta["training"])["step"] == 2 and meta["nstbatch_version"]
    report = validate(path, spec)
    assert {r.shape for r in report.rows} == {(2, 3, 64, 80), (2, 3, 67, 93)}  # an odd size among them
    assert max(r.max_rel for r in report.rows) <= 1e-4
    assert not any(node.op_type == "ConvTranspose" for node in model.graph.node)


def test_stylizer_fp16_export_is_within_its_tolerance(tmp_path, tiny_model):
    model_dir, _ = tiny_model
    spec = StylizerSpec(checkpoint=model_dir / "model.safetensors", fp16=True)
    report = validate(export(spec, tmp_path / "h.onnx"), spec)
    assert 1e-6 < max(r.max_rel for r in report.rows) <= 1e-2


def test_cli_export_model_and_a_broken_one_is_marked_invalid(tmp_path, tiny_model, monkeypatch):
    model_dir, _ = tiny_model
    good = invoke(*["export", "model", str(model_dir / "model.safetensors"), "-o", str(tmp_path / "s.onnx")])
    assert good.exit_code == 0, good.output
    assert "stylized" in good.output and "is within 0.0001 of its largest value (relative)" in good.output

    spec_module = importlib.import_module("nstbatch.exporter.spec")
    exported_graph = spec_module.StylizerSpec.graph

    def broken_graph(spec):
        graph = exported_graph(spec)
        graph.network.out_conv.bias.data += 0.05
        return graph

    monkeypatch.setattr(spec_module.StylizerSpec, "graph", broken_graph)
    bad = invoke(*["export", "model", str(model_dir / "model.safetensors"), "-o", str(tmp_path / "b.onnx")])
    assert bad.exit_code == 1 and "FAIL" in bad.output
    assert not (tmp_path / "b.onnx").exists() and (tmp_path / "b.onnx.invalid").exists()
    (tmp_path / "junk.safetensors").write_text("junk")
    junk = invoke(*["export", "model", str(tmp_path / "junk.safetensors")])
    assert junk.exit_code == 2 and "junk.safetensors: not a readable safetensors checkpoint" in junk.output
