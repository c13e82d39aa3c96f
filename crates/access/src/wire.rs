//! The JSON wire protocol of mown's prediction API (`mown serve` and `HttpModel`), in one place
//! so that the server and the client cannot drift apart. See docs/http-api.md.
//!
//! Endpoints: `GET /health` (no auth, body `ok`), `GET /v1/info` -> [`InfoResponse`],
//! `POST /v1/predict` [`PredictRequest`] -> [`PredictResponse`], `GET /v1/stats` ->
//! [`StatsResponse`]. Every error is a 4xx/5xx status with an [`ErrorBody`].

use serde::{Deserialize, Serialize};

/// Path of the prediction endpoint.
pub const PREDICT_PATH: &str = "/v1/predict";
/// Path of the model description endpoint.
pub const INFO_PATH: &str = "/v1/info";
/// Path of the per-client query counts.
pub const STATS_PATH: &str = "/v1/stats";
/// Path of the unauthenticated liveness probe.
pub const HEALTH_PATH: &str = "/health";

/// A batch of images to classify.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// One flattened C*H*W image (channel-major, pixels in [0, 1]) per entry.
    pub inputs: Vec<Vec<f32>>,
    /// "labels", "topk:K" or "probs"; at most what the server offers. Absent: the server's level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The answer to a [`PredictRequest`]: exactly one of `labels`, `topk`, `probabilities` is set,
/// the one `output` names, with one row per input image in request order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub model: String,
    pub classes: usize,
    /// The level answered: "labels", "topk:K" or "probs".
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<usize>>,
    /// Per image, up to K `[class, probability]` pairs, most probable first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topk: Option<Vec<Vec<(usize, f32)>>>,
    /// Per image, `classes` probabilities summing to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<Vec<f32>>>,
    /// Images this client has had answered so far, this request included.
    pub queries_used: u64,
}

/// What the API serves: enough for a client to shape its queries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InfoResponse {
    pub model: String,
    /// `[channels, height, width]` of one input image.
    pub input_shape: [usize; 3],
    pub classes: usize,
    /// The most the API reveals: "labels", "topk:K" or "probs".
    pub output: String,
    /// Most images one request may carry (0: not said).
    #[serde(default)]
    pub max_images_per_request: usize,
    /// Most bytes one request body may have (0: not said).
    #[serde(default)]
    pub max_body_bytes: usize,
    /// Images each client may have answered in total (None: unlimited).
    #[serde(default)]
    pub client_budget: Option<u64>,
    /// Accepted pixel range; values outside it are rejected (None: any finite value).
    #[serde(default)]
    pub pixel_range: Option<[f32; 2]>,
}

/// One client's usage, as `GET /v1/stats` reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientStats {
    /// "token-N" (the N-th configured token) or "ip:ADDR" when the server has no tokens.
    pub client: String,
    pub requests: u64,
    /// Images answered (what budgets count).
    pub images: u64,
    /// Requests refused with a 4xx after authentication.
    pub rejected: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub clients: Vec<ClientStats>,
    /// Requests refused before a client was known (bad or missing token).
    pub unauthorized: u64,
    /// Forward passes run and images in them: their ratio is the mean batch the batcher formed.
    #[serde(default)]
    pub model_calls: u64,
    #[serde(default)]
    pub model_images: u64,
    pub uptime_seconds: f64,
}

/// The body of every error reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip_as_documented() {
        let req: PredictRequest = serde_json::from_str(r#"{"inputs": [[0.0, 0.5]], "output": "topk:2"}"#).unwrap();
        assert_eq!(req.inputs, vec![vec![0.0, 0.5]]);
        assert!(serde_json::from_str::<PredictRequest>(r#"{"inputs": [], "extra": 1}"#).is_err());
        let reply = PredictResponse {
            model: "m".into(),
            classes: 3,
            output: "topk:2".into(),
            labels: None,
            topk: Some(vec![vec![(1, 0.75), (0, 0.25)]]),
            probabilities: None,
            queries_used: 1,
        };
        let json = serde_json::to_string(&reply).unwrap();
        assert!(json.contains(r#""topk":[[[1,0.75],[0,0.25]]]"#), "{json}");
        assert!(!json.contains("labels"), "{json}");
        assert_eq!(serde_json::from_str::<PredictResponse>(&json).unwrap(), reply);
    }
}
