//! What an ONNX file says about itself, read from its protobuf before tract types it: which graph
//! output holds the scores, whether they come out of a Softmax, who wrote the file, and which of
//! its operators tract lacks.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{ModelProto, NodeProto, ValueInfoProto, type_proto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::ops::unimpl::UnimplementedOp;

use super::{OnnxOutput, file_error};
use crate::AccessError;

/// Output names under which ML exporters (skl2onnx, onnxmltools) give `predict_proba`.
pub(crate) const PROBABILITY_NAMES: [&str; 2] = ["probabilities", "output_probability"];
/// `producer_name` of files written by skl2onnx.
const SKL2ONNX: &str = "skl2onnx";
/// Operators that pass scores through unchanged (up to shape and type) on the way from a
/// Softmax to the graph output, as skl2onnx's Identity does.
const PASS_THROUGH: [&str; 7] = ["Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Dropout"];
/// How many pass-through operators are followed back from the output (a guard against cycles in
/// malformed files).
const MAX_PASS_THROUGH: usize = 16;

/// A graph output as the file declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Declared {
    /// A float tensor (f32, f64, f16, bf16): scores.
    Float,
    /// A tensor of another element type (skl2onnx's int64 `label`).
    Other(String),
    /// Made by ZipMap, or not a tensor at all (a sequence or a map): what skl2onnx writes by
    /// default for `predict_proba`.
    Map,
    /// No type given.
    Untyped,
}

/// The graph output chosen as the score output.
#[derive(Clone, Debug)]
pub(crate) struct ScoreOutput {
    /// Position among the graph outputs (tract keeps their order).
    pub index: usize,
    pub name: String,
    /// Whether it comes out of a Softmax (through pass-through operators only).
    pub softmax: bool,
}

/// The operator producing each value, by value name.
fn producers(proto: &ModelProto) -> HashMap<&str, &NodeProto> {
    let nodes = proto.graph.iter().flat_map(|g| g.node.iter());
    nodes.flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n))).collect()
}

fn declared(output: &ValueInfoProto, producers: &HashMap<&str, &NodeProto>) -> Declared {
    if producers.get(output.name.as_str()).is_some_and(|n| n.op_type == "ZipMap") {
        return Declared::Map;
    }
    let Some(ty) = &output.r#type else {
        return Declared::Untyped;
    };
    // tract's protobuf schema knows only tensor types: a sequence or map type reads as no value.
    let Some(type_proto::Value::TensorType(tensor)) = &ty.value else {
        return Declared::Map;
    };
    match DataType::try_from(tensor.elem_type) {
        Ok(DataType::Float | DataType::Double | DataType::Float16 | DataType::Bfloat16) => Declared::Float,
        Ok(DataType::Undefined) => Declared::Untyped,
        Ok(other) => Declared::Other(other.as_str_name().to_ascii_lowercase()),
        Err(_) => Declared::Other(format!("element type {}", tensor.elem_type)),
    }
}

fn describe(name: &str, kind: &Declared) -> String {
    match kind {
        Declared::Float => format!("`{name}` (float)"),
        Declared::Other(t) => format!("`{name}` ({t})"),
        Declared::Map => format!("`{name}` (sequence of maps)"),
        Declared::Untyped => format!("`{name}` (untyped)"),
    }
}

fn zipmap_error(path: &Path, name: &str) -> AccessError {
    file_error(
        path,
        format!(
            "output `{name}` is a sequence of maps (skl2onnx's default ZipMap), not a [N, classes] tensor; \
             export the classifier with zipmap=False, e.g. to_onnx(model, X, options={{'zipmap': False}})"
        ),
    )
}

/// Picks the graph output holding the scores: `requested` by name; else the only output; else,
/// ignoring integer outputs (labels), the one float output, or among several the one named like
/// probabilities. A ZipMap (sequence of maps) output is an error asking for zipmap=False.
pub(crate) fn score_output(
    path: &Path,
    proto: &ModelProto,
    requested: Option<&str>,
) -> Result<ScoreOutput, AccessError> {
    let producers = producers(proto);
    let outputs: Vec<&ValueInfoProto> = proto.graph.iter().flat_map(|g| g.output.iter()).collect();
    let kinds: Vec<Declared> = outputs.iter().map(|o| declared(o, &producers)).collect();
    let listing = || outputs.iter().zip(&kinds).map(|(o, k)| describe(&o.name, k)).collect::<Vec<_>>().join(", ");
    let index = if let Some(want) = requested {
        let i = outputs
            .iter()
            .position(|o| o.name == want)
            .ok_or_else(|| file_error(path, format!("has no output named `{want}`; its outputs are {}", listing())))?;
        match &kinds[i] {
            Declared::Map => return Err(zipmap_error(path, want)),
            Declared::Other(t) => {
                return Err(file_error(path, format!("output `{want}` holds {t} values, not scores")));
            }
            Declared::Float | Declared::Untyped => i,
        }
    } else if outputs.len() == 1 {
        if kinds[0] == Declared::Map {
            return Err(zipmap_error(path, &outputs[0].name));
        }
        0
    } else {
        let floats: Vec<usize> = (0..outputs.len()).filter(|&i| kinds[i] == Declared::Float).collect();
        let untyped: Vec<usize> = (0..outputs.len()).filter(|&i| kinds[i] == Declared::Untyped).collect();
        let named = |among: &[usize]| -> Vec<usize> {
            among.iter().copied().filter(|&i| PROBABILITY_NAMES.contains(&outputs[i].name.as_str())).collect()
        };
        match (floats.as_slice(), untyped.as_slice()) {
            ([one], _) | ([], [one]) => *one,
            ([], []) => {
                if let Some(i) = kinds.iter().position(|k| *k == Declared::Map) {
                    return Err(zipmap_error(path, &outputs[i].name));
                }
                return Err(file_error(path, format!("none of its outputs holds float scores: {}", listing())));
            }
            (several, _) => match named(if several.is_empty() { &untyped } else { several }).as_slice() {
                [one] => *one,
                _ => {
                    return Err(file_error(
                        path,
                        format!("has several outputs that may hold the scores ({}); name the one to read", listing()),
                    ));
                }
            },
        }
    };
    let name = outputs[index].name.clone();
    let softmax = comes_out_of_softmax(&producers, &name);
    Ok(ScoreOutput { index, name, softmax })
}

/// Whether value `name` is a Softmax's output, possibly through pass-through operators.
fn comes_out_of_softmax(producers: &HashMap<&str, &NodeProto>, name: &str) -> bool {
    let mut value = name;
    for _ in 0..MAX_PASS_THROUGH {
        let Some(node) = producers.get(value) else {
            return false;
        };
        let standard = node.domain.is_empty() || node.domain == "ai.onnx";
        match node.op_type.as_str() {
            "Softmax" if standard => return true,
            op if standard && PASS_THROUGH.contains(&op) => match node.input.first() {
                Some(input) => value = input,
                None => return false,
            },
            _ => return false,
        }
    }
    false
}

/// Resolves `requested` for the chosen output; returns the reading (never `Auto`) and why.
pub(crate) fn resolve_output(
    path: &Path,
    requested: OnnxOutput,
    proto: &ModelProto,
    output: &ScoreOutput,
) -> Result<(OnnxOutput, String), AccessError> {
    match requested {
        OnnxOutput::Probabilities => Ok((OnnxOutput::Probabilities, "as requested".into())),
        OnnxOutput::Logits if output.softmax => Err(file_error(
            path,
            format!(
                "output `{}` comes out of a Softmax: it holds probabilities already, and reading it as logits \
                 would apply softmax twice; open it with output probs or auto",
                output.name
            ),
        )),
        OnnxOutput::Logits => Ok((OnnxOutput::Logits, "as requested".into())),
        OnnxOutput::Auto if output.softmax => Ok((OnnxOutput::Probabilities, "auto: the graph ends in Softmax".into())),
        OnnxOutput::Auto if proto.producer_name == SKL2ONNX => {
            Ok((OnnxOutput::Probabilities, "auto: written by skl2onnx, whose classifiers output predict_proba".into()))
        }
        OnnxOutput::Auto if PROBABILITY_NAMES.contains(&output.name.as_str()) => {
            Ok((OnnxOutput::Probabilities, format!("auto: an ML exporter's `{}` output", output.name)))
        }
        OnnxOutput::Auto => Ok((OnnxOutput::Logits, "auto: no Softmax at the end of the graph".into())),
    }
}

/// Fails naming the operators (with their domains) of `model` that tract does not implement.
/// Call once the graph is cut down to the score output, so that operators only the dropped
/// outputs need (skl2onnx computes `label` with ai.onnx.ml ArrayFeatureExtractor) do not count.
pub(crate) fn check_operators(path: &Path, proto: &ModelProto, model: &InferenceModel) -> Result<(), AccessError> {
    // tract names a node after the ONNX node, or after its first output when it has no name.
    let by_name: HashMap<&str, &NodeProto> = proto
        .graph
        .iter()
        .flat_map(|g| g.node.iter())
        .map(|n| (if n.name.is_empty() { n.output.first().map_or("", |o| o.as_str()) } else { n.name.as_str() }, n))
        .collect();
    let mut missing: Vec<String> = Vec::new();
    for node in model.nodes() {
        if !node.op_is::<UnimplementedOp>() {
            continue;
        }
        let op = match by_name.get(node.name.as_str()) {
            Some(n) if n.domain.is_empty() => n.op_type.clone(),
            Some(n) => format!("{} (domain {})", n.op_type, n.domain),
            None => node.op().name().to_string(),
        };
        if !missing.contains(&op) {
            missing.push(op);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let s = if missing.len() == 1 { "" } else { "s" };
    Err(file_error(
        path,
        format!(
            "uses operator{s} {} that tract, the ONNX runtime mown runs suspects with, does not implement",
            missing.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{GraphProto, TypeProto};

    use super::*;

    fn node(op: &str, input: &str, output: &str) -> NodeProto {
        NodeProto { op_type: op.into(), input: vec![input.into()], output: vec![output.into()], ..NodeProto::default() }
    }

    fn tensor_output(name: &str, elem_type: DataType) -> ValueInfoProto {
        let tensor = type_proto::Tensor { elem_type: elem_type as i32, shape: None };
        let ty = TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..TypeProto::default() };
        ValueInfoProto { name: name.into(), r#type: Some(ty), ..ValueInfoProto::default() }
    }

    fn model(producer: &str, nodes: Vec<NodeProto>, output: Vec<ValueInfoProto>) -> ModelProto {
        let graph = GraphProto { node: nodes, output, ..GraphProto::default() };
        ModelProto { producer_name: producer.into(), graph: Some(graph), ..ModelProto::default() }
    }

    fn chosen(proto: &ModelProto, requested: Option<&str>) -> Result<(String, bool), String> {
        score_output(Path::new("m.onnx"), proto, requested).map(|s| (s.name, s.softmax)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_float_output_is_the_scores_and_softmax_is_seen_through_identity() {
        let nodes = vec![
            node("Gemm", "x", "z"),
            node("Softmax", "z", "p"),
            node("Identity", "p", "probabilities"),
            node("ArgMax", "probabilities", "label"),
        ];
        let outputs = vec![tensor_output("label", DataType::Int64), tensor_output("probabilities", DataType::Float)];
        let proto = model("exporter", nodes.clone(), outputs);
        assert_eq!(chosen(&proto, None).unwrap(), ("probabilities".into(), true));
        let err = chosen(&proto, Some("label")).unwrap_err();
        assert!(err.contains("`label` holds int64"), "{err}");
        // A Softmax elsewhere in the graph does not count.
        let proto = model("exporter", nodes, vec![tensor_output("z", DataType::Float)]);
        assert_eq!(chosen(&proto, None).unwrap(), ("z".into(), false));
    }

    #[test]
    fn several_float_outputs_prefer_the_probability_name_or_must_be_named() {
        let nodes = vec![node("Gemm", "x", "features"), node("Gemm", "features", "output_probability")];
        let outputs =
            vec![tensor_output("features", DataType::Float), tensor_output("output_probability", DataType::Float)];
        let proto = model("exporter", nodes.clone(), outputs);
        assert_eq!(chosen(&proto, None).unwrap(), ("output_probability".into(), false));
        let outputs = vec![tensor_output("features", DataType::Float), tensor_output("scores", DataType::Double)];
        let proto = model("exporter", nodes, outputs);
        let err = chosen(&proto, None).unwrap_err();
        assert!(err.contains("several outputs") && err.contains("`scores` (float)"), "{err}");
        assert_eq!(chosen(&proto, Some("scores")).unwrap(), ("scores".into(), false));
    }

    #[test]
    fn zipmap_outputs_and_label_only_graphs_are_refused() {
        let nodes = vec![node("LinearClassifier", "x", "label"), node("ZipMap", "label", "output_probability")];
        let zipmap = ValueInfoProto { name: "output_probability".into(), ..ValueInfoProto::default() };
        let proto = model("skl2onnx", nodes.clone(), vec![tensor_output("label", DataType::Int64), zipmap.clone()]);
        let err = chosen(&proto, None).unwrap_err();
        assert!(err.contains("`output_probability`") && err.contains("zipmap=False"), "{err}");
        assert!(chosen(&model("skl2onnx", nodes.clone(), vec![zipmap]), None).unwrap_err().contains("ZipMap"));
        let labels = vec![tensor_output("label", DataType::Int64), tensor_output("names", DataType::String)];
        let err = chosen(&model("skl2onnx", nodes, labels), None).unwrap_err();
        assert!(err.contains("none of its outputs holds float scores") && err.contains("`names` (string)"), "{err}");
    }

    #[test]
    fn auto_reads_probabilities_only_where_the_file_says_so() {
        let path = Path::new("m.onnx");
        let out = |name: &str, softmax| ScoreOutput { index: 0, name: name.into(), softmax };
        let resolve = |requested, producer: &str, output: &ScoreOutput| {
            resolve_output(path, requested, &model(producer, vec![], vec![]), output).map(|r| r.0)
        };
        use OnnxOutput::*;
        assert_eq!(resolve(Auto, "pytorch", &out("logits", false)).unwrap(), Logits);
        assert_eq!(resolve(Auto, "pytorch", &out("logits", true)).unwrap(), Probabilities);
        assert_eq!(resolve(Auto, "skl2onnx", &out("scores", false)).unwrap(), Probabilities);
        assert_eq!(resolve(Auto, "OnnxMLTools", &out("probabilities", false)).unwrap(), Probabilities);
        assert_eq!(resolve(Logits, "skl2onnx", &out("probabilities", false)).unwrap(), Logits);
        assert_eq!(resolve(Probabilities, "pytorch", &out("logits", false)).unwrap(), Probabilities);
        let err = resolve(Logits, "pytorch", &out("probs", true)).unwrap_err().to_string();
        assert!(err.contains("softmax twice"), "{err}");
    }
}
