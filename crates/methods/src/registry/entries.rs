//! The registry's entries: each method's parameter struct behind [`Method::set`], and how it turns
//! [`OwnerInputs`] into evidence. Parameters keep the names of the command-line flags they come
//! from (`--n` is `n`, `--no-augment` is `augment=false`).

use mown_access::AccessLevel;
use mown_data::Dataset;
use mown_nn::Model;
use serde_json::json;

use super::{Entry, Generated, Method, OwnerEffect, OwnerInputs, Param, parse, parse_bool, parse_fraction};
use crate::akh::AkhParams;
use crate::baselines::{Baseline, BaselineKind, BaselineParams};
use crate::ipguard::{Init, IpGuard, IpGuardParams, TargetRule, auto_k, suffix};
use crate::near_boundary::{FineTuneParams, FtSpace, NearBoundaryParams, PrivatiseParams};
use crate::sac::{SacParams, SacProbes};
use crate::uap::{PerturbationKind, UapFingerprintParams};
use crate::watermark::{Scheme, WatermarkParams};
use crate::{Evidence, Fingerprinter, MethodError};

const IPGUARD_PAPER: &str = "IPGuard: Protecting Intellectual Property of Deep Neural Networks via Fingerprinting \
                             the Classification Boundary (Cao, Jia, Gong, AsiaCCS 2021)";

pub(super) static REGISTRY: &[Entry] = &[
    Entry {
        name: "ipguard",
        aliases: &[],
        paper: IPGUARD_PAPER,
        summary: "points near the owner's decision boundary; catches fine-tuned and pruned copies",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[
            N_POINTS,
            K,
            Param { key: "lr", help: "Adam rate on the input pixels (0.01)" },
            ITERATIONS,
            INIT,
            Param { key: "candidates", help: "start points optimised to get n converged ones (0 = n)" },
            Param { key: "screen", help: "start points drawn and ranked by initial loss (0 = none)" },
            SEED,
        ],
        make: || Box::new(Boundary::new(Kind::IpGuard)),
    },
    Entry {
        name: "cw-l2",
        aliases: &["cw"],
        paper: IPGUARD_PAPER,
        summary: "IPGuard's CW-L2 baseline: Carlini-Wagner L2 adversarial examples as fingerprint points",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[
            N_POINTS,
            Param { key: "k", help: "CW-L2 confidence kappa: a number or auto (auto)" },
            Param { key: "c", help: "CW-L2 constant c (1)" },
            Param { key: "lr", help: "Adam rate on the input pixels (0.01)" },
            ITERATIONS,
            INIT,
            SEED,
        ],
        make: || Box::new(Boundary::new(Kind::CwL2)),
    },
    Entry {
        name: "fgsm",
        aliases: &[],
        paper: IPGUARD_PAPER,
        summary: "IPGuard's FGSM baseline: one signed-gradient step toward the target label",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[N_POINTS, EPS, INIT, SEED],
        make: || Box::new(Boundary::new(Kind::Fgsm)),
    },
    Entry {
        name: "igsm",
        aliases: &[],
        paper: IPGUARD_PAPER,
        summary: "IPGuard's IGSM baseline: iterated signed-gradient steps",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[N_POINTS, EPS, Param { key: "alpha", help: "step per iteration (1/255)" }, ITERATIONS, INIT, SEED],
        make: || Box::new(Boundary::new(Kind::Igsm)),
    },
    Entry {
        name: "random",
        aliases: &[],
        paper: IPGUARD_PAPER,
        summary: "IPGuard's random baseline: training images (T) or noise (R) with the owner's labels",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[N_POINTS, INIT, SEED],
        make: || Box::new(Boundary::new(Kind::Random)),
    },
    Entry {
        name: "uap",
        aliases: &[],
        paper: "Fingerprinting Deep Neural Networks Globally via Universal Adversarial Perturbations (Peng, Li, Chen, \
                Zhang, Zhu, Xue, CVPR 2022)",
        summary: "the owner's universal adversarial perturbation, a contrastive encoder and a t-test; aimed at \
                  extraction and distillation",
        needs: AccessLevel::Probabilities,
        effect: OwnerEffect::Reads,
        references: true,
        params: super::uap_entry::PARAMS,
        make: || Box::new(super::uap_entry::Uap(UapFingerprintParams::default())),
    },
    Entry {
        name: "sac-w",
        aliases: &["sac"],
        paper: SAC_PAPER,
        summary: "correlations of the answers on the owner's mistakes; aimed at extraction",
        needs: AccessLevel::Probabilities,
        effect: OwnerEffect::Reads,
        references: false,
        params: SAC_PARAMS,
        make: || Box::new(Sac(SacParams { probes: SacProbes::Wrong, ..SacParams::default() })),
    },
    Entry {
        name: "sac-m",
        aliases: &[],
        paper: SAC_PAPER,
        summary: "correlations of the answers on CutMix mixtures; needs no owner mistakes",
        needs: AccessLevel::Probabilities,
        effect: OwnerEffect::Reads,
        references: false,
        params: SAC_PARAMS,
        make: || Box::new(Sac(SacParams { probes: SacProbes::CutMix, ..SacParams::default() })),
    },
    Entry {
        name: "akh",
        aliases: &[],
        paper: "the AKH baseline of Queries, Representation & Detection: The Next 100 Model Fingerprinting Schemes \
                (Godinot, Le Merrer, Penzo, Taïani, Trédan, AAAI 2025)",
        summary: "whether the suspect repeats the owner's mistakes, with the owner's wrong labels",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: &[Param { key: "n", help: "owner mistakes wanted (100)" }, AUGMENT, SEED],
        make: || Box::new(Akh(AkhParams::default())),
    },
    Entry {
        name: "dataset-inference",
        aliases: &["di"],
        paper: "Dataset Inference: Ownership Resolution in Machine Learning (Maini, Yaghini, Papernot, ICLR 2021), \
                as seed 001's baseline",
        summary: "how far random walks go before the label flips, on the owner's training images against \
                  held-out ones: a model trained on the owner's data (or a copy) separates them",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Reads,
        references: false,
        params: super::di_entry::PARAMS,
        make: || Box::new(super::di_entry::DatasetInference(crate::dataset_inference::DiParams::default())),
    },
    Entry {
        name: "near-boundary",
        aliases: &["nb"],
        paper: "Interesting Near-boundary Data: Model Ownership Inference for DNNs (anonymous submission)",
        summary: "private samples on one class boundary of a boundary-tuned owner; a t-test on their distances",
        needs: AccessLevel::Probabilities,
        effect: OwnerEffect::Tunes,
        references: false,
        params: super::near_boundary_entry::PARAMS,
        make: || Box::new(super::near_boundary_entry::NearBoundary::default()),
    },
    Entry {
        name: "margin",
        aliases: &["margin-watermark"],
        paper: WATERMARK_PAPER,
        summary: "trigger images trained with their whole L-inf ball to wrong labels; carried into extracted copies",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Trains,
        references: false,
        params: super::watermark_entry::WATERMARK_PARAMS,
        make: || Box::new(super::watermark_entry::Watermark(WatermarkParams::default())),
    },
    Entry {
        name: "plain",
        aliases: &["plain-watermark", "trigger-set"],
        paper: WATERMARK_PAPER,
        summary: "the plain trigger-set watermark the margin-based one improves on (its Eq. 1)",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Trains,
        references: false,
        params: super::watermark_entry::WATERMARK_PARAMS,
        make: || {
            Box::new(super::watermark_entry::Watermark(WatermarkParams {
                scheme: Scheme::Plain,
                ..WatermarkParams::default()
            }))
        },
    },
    Entry {
        name: "badnets",
        aliases: &["badnets-watermark"],
        paper: "BadNets: Identifying Vulnerabilities in the Machine Learning Model Supply Chain (Gu, Dolan-Gavitt, \
                Garg, 2017), as seed 001's Table 6 baseline",
        summary: "held-out images stamped with a corner patch and trained to one target class; a suspect's target \
                  rate on them",
        needs: AccessLevel::Labels,
        effect: OwnerEffect::Trains,
        references: false,
        params: super::watermark_entry::BADNETS_PARAMS,
        make: || {
            Box::new(super::watermark_entry::Watermark(WatermarkParams {
                scheme: Scheme::Badnets,
                badnets: Some(Default::default()),
                ..WatermarkParams::default()
            }))
        },
    },
    Entry {
        name: "extfeat",
        aliases: &["external-features"],
        paper: "Defending against Model Stealing via Verifying Embedded External Features (Li, Zhu, Jia, Jiang, Xia, \
                Cao, AAAI 2022)",
        summary: "a share of training images stylised (labels kept); a suspect's answers on stylised twins \
                  (verifier=twins, black-box) or the paper's meta-classifier on its parameter gradients \
                  (verifier=meta, white-box: model files of the owner's architecture)",
        needs: AccessLevel::Probabilities,
        effect: OwnerEffect::Trains,
        references: false,
        params: super::extfeat_entry::PARAMS,
        make: || Box::new(super::extfeat_entry::ExtFeat(crate::extfeat::ExtFeatParams::default())),
    },
];

const N_POINTS: Param = Param { key: "n", help: "fingerprint points (100)" };
const K: Param = Param {
    key: "k",
    help: "logit margin: a number, or auto (0.4 x the owner's median logit margin on its training images)",
};
const ITERATIONS: Param = Param { key: "iterations", help: "optimisation iterations (1000)" };
const INIT: Param = Param { key: "init", help: "start point and target label: TL, TR, RL or RR (TL)" };
const EPS: Param = Param { key: "eps", help: "L-inf radius in pixel units, e.g. 0.1 or 8/255 (0.1)" };
pub(super) const SEED: Param = Param { key: "seed", help: "seed of every random choice (0)" };
pub(super) const LEVEL: Param =
    Param { key: "level", help: "what suspects reveal: probs, topk:K (zero-filled) or labels (one-hot) (probs)" };
const AUGMENT: Param =
    Param { key: "augment", help: "add augmented held-out images when natural mistakes run out (true)" };

const SAC_PAPER: &str = "Are You Stealing My Model? Sample Correlation for Fingerprinting Deep Neural Networks \
                         (Guan, Liang, He, NeurIPS 2022)";
const SAC_PARAMS: &[Param] = &[
    Param { key: "n", help: "probes queried per verification (200)" },
    Param { key: "block", help: "probes per block; each block's distance is one t-test sample (20)" },
    Param { key: "probes", help: "wrong (the owner's mistakes: SAC-w) or cutmix (SAC-m)" },
    LEVEL,
    AUGMENT,
    SEED,
];

const WATERMARK_PAPER: &str = "Margin-based Neural Network Watermarking (Kim, Lee, Shin, Lee, ICML 2023)";

/// IPGuard's k and CW-L2's kappa: a number, or scaled to the owner's logits at generation.
#[derive(Clone, Copy, Debug)]
enum Margin {
    Auto,
    Value(f64),
}

impl Margin {
    fn parse(value: &str) -> Result<Margin, MethodError> {
        if value.eq_ignore_ascii_case("auto") {
            return Ok(Margin::Auto);
        }
        Ok(Margin::Value(parse(value, "a number or auto")?))
    }

    fn resolve(self, owner: &Model, seeds: &Dataset) -> Result<f64, MethodError> {
        match self {
            Margin::Auto => auto_k(owner, seeds),
            Margin::Value(k) => Ok(k),
        }
    }

    fn json(self) -> serde_json::Value {
        match self {
            Margin::Auto => json!("auto"),
            Margin::Value(k) => json!(k),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    IpGuard,
    CwL2,
    Fgsm,
    Igsm,
    Random,
}

/// IPGuard and its four baselines: fingerprint points with the owner's labels.
struct Boundary {
    kind: Kind,
    ipguard: IpGuardParams,
    k: Margin,
    eps: f64,
    alpha: f64,
    c: f64,
}

impl Boundary {
    fn new(kind: Kind) -> Self {
        Boundary { kind, ipguard: IpGuardParams::default(), k: Margin::Auto, eps: 0.1, alpha: 1.0 / 255.0, c: 1.0 }
    }

    fn generator(&self, k: f64) -> Box<dyn Fingerprinter> {
        let p = &self.ipguard;
        let base = |kind| BaselineParams { kind, n: p.n, init: p.init, target: p.target, seed: p.seed };
        match self.kind {
            Kind::IpGuard => Box::new(IpGuard(IpGuardParams { k, ..p.clone() })),
            Kind::CwL2 => {
                Box::new(Baseline(base(BaselineKind::CwL2 { c: self.c, kappa: k, lr: p.lr, iterations: p.iterations })))
            }
            Kind::Fgsm => Box::new(Baseline(base(BaselineKind::Fgsm { eps: self.eps }))),
            Kind::Igsm => Box::new(Baseline(base(BaselineKind::Igsm {
                eps: self.eps,
                alpha: self.alpha,
                iterations: p.iterations,
            }))),
            Kind::Random => Box::new(Baseline(base(BaselineKind::Random))),
        }
    }
}

/// "TL" -> (Init::Train, TargetRule::LeastLikely) (IPGuard §5.1.4).
pub fn parse_init(text: &str) -> Result<(Init, TargetRule), MethodError> {
    let upper = text.trim().to_ascii_uppercase();
    let bad = || MethodError::BadParameter(format!("init '{text}' must be TL, TR, RL or RR"));
    let mut c = upper.chars();
    let init = match c.next() {
        Some('T') => Init::Train,
        Some('R') => Init::Random,
        _ => return Err(bad()),
    };
    let target = match (c.next(), c.next()) {
        (Some('L'), None) => TargetRule::LeastLikely,
        (Some('R'), None) => TargetRule::Random,
        _ => return Err(bad()),
    };
    Ok((init, target))
}

impl Method for Boundary {
    fn entry(&self) -> &'static Entry {
        let name = match self.kind {
            Kind::IpGuard => "ipguard",
            Kind::CwL2 => "cw-l2",
            Kind::Fgsm => "fgsm",
            Kind::Igsm => "igsm",
            Kind::Random => "random",
        };
        REGISTRY.iter().find(|e| e.name == name).expect("every kind is registered")
    }

    fn name(&self) -> String {
        match self.kind {
            Kind::Random => "random".into(),
            _ => format!("{}-{}", self.entry().name, suffix(self.ipguard.init, self.ipguard.target)),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.ipguard;
        match key {
            "n" => p.n = parse(value, "a count")?,
            "k" => self.k = Margin::parse(value)?,
            "lr" => p.lr = parse(value, "a number")?,
            "iterations" => p.iterations = parse(value, "a count")?,
            "init" => (p.init, p.target) = parse_init(value)?,
            "candidates" => p.candidates = parse(value, "a count")?,
            "screen" => p.screen = parse(value, "a count")?,
            "eps" => self.eps = parse_fraction(value)?,
            "alpha" => self.alpha = parse_fraction(value)?,
            "c" => self.c = parse(value, "a number")?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        let p = &self.ipguard;
        let mut s = json!({ "n": p.n, "init": suffix(p.init, p.target), "seed": p.seed });
        let extra = match self.kind {
            Kind::IpGuard => json!({ "k": self.k.json(), "lr": p.lr, "iterations": p.iterations,
                                     "candidates": p.candidates, "screen": p.screen }),
            Kind::CwL2 => json!({ "k": self.k.json(), "c": self.c, "lr": p.lr, "iterations": p.iterations }),
            Kind::Fgsm => json!({ "eps": self.eps }),
            Kind::Igsm => json!({ "eps": self.eps, "alpha": self.alpha, "iterations": p.iterations }),
            Kind::Random => json!({}),
        };
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let k = match self.kind {
            Kind::IpGuard | Kind::CwL2 => self.k.resolve(inputs.model, inputs.train)?,
            _ => 0.0,
        };
        let auto = matches!(self.k, Margin::Auto) && matches!(self.kind, Kind::IpGuard | Kind::CwL2);
        let mut fp = self.generator(k).generate(inputs.model, inputs.train)?;
        let mut k_note = if auto { format!("k = {k:.3}, auto; ") } else { String::new() };
        // Auto k for IPGuard: when under 90% of the points reach the margin (an owner whose
        // logits are spread unevenly: the 30-epoch arc-c digits owner of `mown train` converges 79
        // of 100 at 0.4 x its median margin), halve k, at most twice (0.2 and 0.1 x the median).
        if auto && self.kind == Kind::IpGuard {
            let mut k = k;
            for _ in 0..2 {
                let converged = fp.stats["converged"].as_u64().unwrap_or(0) as f64;
                if converged >= 0.9 * fp.len() as f64 {
                    break;
                }
                let lower = k / 2.0;
                let again = self.generator(lower).generate(inputs.model, inputs.train)?;
                k_note = format!(
                    "k = {lower:.3}, auto, halved from {k:.3} where {converged} of {} points converged; ",
                    fp.len()
                );
                (fp, k) = (again, lower);
            }
        }
        Ok(Generated {
            summary: format!("{}: {} points ({k_note}{})", fp.method, fp.len(), fp.stats),
            timings: fp.timings.clone(),
            owner: None,
            evidence: Box::new(fp),
        })
    }
}

/// SAC-w and SAC-m (the probes parameter switches between them).
struct Sac(SacParams);

impl Method for Sac {
    fn entry(&self) -> &'static Entry {
        let name = if self.0.probes == SacProbes::Wrong { "sac-w" } else { "sac-m" };
        REGISTRY.iter().find(|e| e.name == name).expect("both SAC variants are registered")
    }

    fn name(&self) -> String {
        match self.0.level {
            AccessLevel::Probabilities => self.entry().name.to_string(),
            level => format!("{}[{level}]", self.entry().name),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.0;
        match key {
            "n" => p.n = parse(value, "a count")?,
            "block" => p.block = parse(value, "a count")?,
            "probes" => p.probes = value.parse()?,
            "level" => p.level = parse(value, "an access level (probs, topk:K, labels)")?,
            "augment" => p.mistakes.augment = parse_bool(value)?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    fn requires(&self) -> AccessLevel {
        self.0.level
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let started = std::time::Instant::now();
        let fp = crate::sac::generate(inputs.model, inputs.train, inputs.held_out, &self.0)?;
        Ok(Generated {
            summary: format!(
                "{}: {} probes in {} blocks, {}",
                fp.method,
                fp.probes(),
                fp.probes() / self.0.block.max(1),
                fp.origins
            ),
            timings: json!({ "seconds": started.elapsed().as_secs_f64() }),
            owner: None,
            evidence: Box::new(fp),
        })
    }
}

/// AKH: the owner's mistakes, with its wrong labels.
struct Akh(AkhParams);

impl Method for Akh {
    fn entry(&self) -> &'static Entry {
        REGISTRY.iter().find(|e| e.name == "akh").expect("akh is registered")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        match key {
            "n" => self.0.n = parse(value, "a count")?,
            "augment" => self.0.mistakes.augment = parse_bool(value)?,
            "seed" => self.0.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let started = std::time::Instant::now();
        let fp = crate::akh::generate(inputs.model, inputs.train, inputs.held_out, &self.0)?;
        Ok(Generated {
            summary: format!("{}: {} owner mistakes, {}", fp.method(), fp.len(), fp.origins),
            timings: json!({ "seconds": started.elapsed().as_secs_f64() }),
            owner: None,
            evidence: Box::new(fp),
        })
    }
}

/// FineTuneParams' space from text.
pub(super) fn parse_space(value: &str) -> Result<FtSpace, MethodError> {
    match value.to_ascii_lowercase().as_str() {
        "probs" | "probabilities" => Ok(FtSpace::Probabilities),
        "logits" => Ok(FtSpace::Logits),
        other => Err(MethodError::BadParameter(format!("'{other}' is not probs or logits"))),
    }
}

/// A list of counts written `A,B`, `A:B` or `AxB` (brackets in a method spec already use commas).
pub(super) fn parse_list(value: &str) -> Result<Vec<usize>, MethodError> {
    value.split([',', ':', 'x']).map(|v| parse::<usize>(v.trim(), "a list of counts (A,B or A:B)")).collect()
}

/// Near-boundary's defaults, as the entry builds them.
pub(super) fn near_boundary_defaults() -> (NearBoundaryParams, FineTuneParams, PrivatiseParams) {
    let p = NearBoundaryParams::default();
    let ft = p.finetune.clone().unwrap_or_default();
    let gan = p.privatise.clone().unwrap_or_default();
    (p, ft, gan)
}

/// UAP's perturbation kind from text.
pub(super) fn parse_perturbation(value: &str) -> Result<PerturbationKind, MethodError> {
    match value.to_ascii_lowercase().as_str() {
        "universal" | "uap" => Ok(PerturbationKind::Universal),
        "local" | "lap" => Ok(PerturbationKind::Local),
        other => Err(MethodError::BadParameter(format!("'{other}' is not universal or local"))),
    }
}
