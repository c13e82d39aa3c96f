//! `mown import` on files it cannot take: each error names the operator, node or shape at fault.
//! The graphs are built here with tract-onnx's protobuf types.

use mown_access::onnx::{ImportOptions, import_onnx_bytes};
use mown_nn::burn::prelude::Device;
use prost::Message;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    type_proto,
};

fn dim(d: &str) -> Dimension {
    let value = match d.parse::<i64>() {
        Ok(v) => dimension::Value::DimValue(v),
        Err(_) => dimension::Value::DimParam(d.into()),
    };
    Dimension { value: Some(value), ..Default::default() }
}

fn info(name: &str, dims: &[&str]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim: dims.iter().map(|d| dim(d)).collect() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, input: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], v: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: v,
        ..Default::default()
    }
}

/// A model of `nodes` from `input` (dims) to `output`, [N, 10].
fn model(input: &[&str], nodes: Vec<NodeProto>, inits: Vec<TensorProto>, output: &str) -> Vec<u8> {
    let graph = GraphProto {
        node: nodes,
        initializer: inits,
        input: vec![info("x", input)],
        output: vec![info(output, &["N", "10"])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn import(bytes: &[u8]) -> Result<(), String> {
    import_onnx_bytes(bytes, &ImportOptions::default(), &Device::flex()).map(|_| ()).map_err(|e| e.to_string())
}

/// Flatten then Gemm to 10 logits: a valid classifier of 1x4x4 images reading `from`.
fn head(from: &str) -> (Vec<NodeProto>, Vec<TensorProto>) {
    (
        vec![node("Flatten", "flatten", &[from], "flat"), node("Gemm", "fc", &["flat", "w", "b"], "logits")],
        vec![floats("w", &[16, 10], vec![0.01; 160]), floats("b", &[10], vec![0.0; 10])],
    )
}

#[test]
fn a_valid_tiny_graph_imports() {
    let (nodes, inits) = head("x");
    import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap();
}

#[test]
fn unsupported_operators_are_named_with_their_node() {
    for op in ["LSTM", "MadeUpOp", "Erf"] {
        let (mut nodes, inits) = head("y");
        nodes.insert(0, node(op, "mystery_node", &["x"], "y"));
        let err = import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap_err();
        assert!(err.contains(op) && err.contains("mystery_node") && err.contains("unsupported"), "{err}");
    }
    // A custom domain.
    let (mut nodes, inits) = head("y");
    let mut custom = node("Relu", "custom_relu", &["x"], "y");
    custom.domain = "com.example".into();
    nodes.insert(0, custom);
    let err = import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap_err();
    assert!(err.contains("com.example.Relu") && err.contains("custom_relu"), "{err}");
    // A Softmax inside the graph (not at the end).
    let (mut nodes, inits) = head("y");
    nodes.insert(0, node("Softmax", "inner_softmax", &["x"], "y"));
    let err = import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap_err();
    assert!(err.contains("inner_softmax") && err.contains("last operator"), "{err}");
}

#[test]
fn wrong_input_rank_is_a_clear_error() {
    let nodes = vec![node("Gemm", "fc", &["x", "w", "b"], "logits")];
    let inits = vec![floats("w", &[16, 10], vec![0.01; 160]), floats("b", &[10], vec![0.0; 10])];
    let err = import(&model(&["N", "4", "4"], nodes.clone(), inits.clone(), "logits")).unwrap_err();
    assert!(err.contains("rank 3") && err.contains("[N, C, H, W]"), "{err}");
    // A flat input (scikit-learn's) needs the image shape it flattens, and one that fits.
    let flat = model(&["N", "16"], nodes, inits, "logits");
    let err = import(&flat).unwrap_err();
    assert!(err.contains("flat") && err.contains("--input-shape"), "{err}");
    let with = |c, h, w| ImportOptions { input_shape: Some(mown_data::ImageShape::new(c, h, w)), ..Default::default() };
    let err = import_onnx_bytes(&flat, &with(1, 8, 8), &Device::flex()).err().unwrap().to_string();
    assert!(err.contains("takes 16 values per image"), "{err}");
    let imported = import_onnx_bytes(&flat, &with(1, 4, 4), &Device::flex()).unwrap().model;
    assert_eq!(imported.logits(&[0.5; 32]).unwrap().len(), 20);
}

#[test]
fn dynamic_shapes_that_do_not_fold_are_errors() {
    // Height and width left symbolic.
    let (nodes, inits) = head("x");
    let err = import(&model(&["N", "1", "H", "W"], nodes, inits, "logits")).unwrap_err();
    assert!(err.contains("not fixed"), "{err}");
    // ... unless given.
    let (nodes, inits) = head("x");
    let opts = ImportOptions { input_shape: Some(mown_data::ImageShape::new(1, 4, 4)), ..Default::default() };
    import_onnx_bytes(&model(&["N", "1", "H", "W"], nodes, inits, "logits"), &opts, &Device::flex()).unwrap();
    // A reshape target of N * N.
    let (mut nodes, mut inits) = head("y");
    nodes.splice(
        0..0,
        [
            node("Shape", "shape", &["x"], "s"),
            node("Gather", "gather", &["s", "zero"], "n"),
            node("Mul", "square", &["n", "n"], "nn"),
            node("Concat", "target", &["nn", "minus1"], "t"),
            node("Reshape", "reshape", &["x", "t"], "y"),
        ],
    );
    inits.extend([ints("zero", &[0]), ints("minus1", &[-1])]);
    let err = import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap_err();
    assert!(err.contains("square") && err.contains("does not fold"), "{err}");
    // A reshape target computed from the pixels.
    let (mut nodes, inits) = head("y");
    nodes.splice(0..0, [node("Relu", "relu", &["x"], "r"), node("Reshape", "reshape", &["x", "r"], "y")]);
    let err = import(&model(&["N", "1", "4", "4"], nodes, inits, "logits")).unwrap_err();
    assert!(err.contains("reshape") && err.contains("run time"), "{err}");
}

#[test]
fn outputs_that_are_not_logits_are_refused() {
    let err = import(&model(&["N", "1", "4", "4"], vec![node("Relu", "relu", &["x"], "y")], vec![], "y")).unwrap_err();
    assert!(err.contains("not [N, classes]"), "{err}");
    let err = import(b"not an onnx file at all").unwrap_err();
    assert!(err.contains("ONNX"), "{err}");
}
