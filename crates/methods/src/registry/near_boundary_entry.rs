//! The near-boundary method's registry entry (seed 000): its parameters by key. Phase 3 changes
//! the owner, so generation returns the boundary-tuned model with the evidence.

use super::entries::{near_boundary_defaults, parse_list, parse_space};
use super::{Entry, Generated, Method, OwnerInputs, Param, parse, parse_bool};
use crate::MethodError;
use crate::near_boundary::{FineTuneParams, NearBoundaryParams, PrivatiseParams, generate};

pub(super) const PARAMS: &[Param] = &[
    Param { key: "n", help: "samples kept as evidence (64)" },
    Param { key: "boundary", help: "the boundary S,T (or S:T): seed images of class S move toward T (0,1)" },
    Param { key: "tau", help: "Definition 2's largest gap |g_s - g_t| of a near-boundary sample (0.1)" },
    Param { key: "seeds", help: "training images of class S that CW-L2 starts from (256)" },
    Param { key: "cw_iterations", help: "CW-L2 iterations at most (1000)" },
    Param { key: "gan", help: "phase 2: a DCGAN's samples as the evidence (true)" },
    Param { key: "gan_steps", help: "DCGAN training steps (1000)" },
    Param { key: "gan_widths", help: "DCGAN generator widths, A,B or A:B (128,64)" },
    Param { key: "gan_latent", help: "DCGAN latent size (100)" },
    Param { key: "finetune", help: "phase 3: fine-tune the owner's boundary (true; changes the owner)" },
    Param { key: "ft_epochs", help: "epochs of boundary fine-tuning (1)" },
    Param { key: "ft_space", help: "Loss_FT on probs or logits (probs)" },
    Param { key: "ft_lr", help: "the first fine-tuning rate, halved while a tuning is rejected (0.001)" },
    Param { key: "ft_max_drop", help: "the most held-out accuracy (0-1) phase 3 may cost (0.02)" },
    Param { key: "draws", help: "t-test repetitions (30)" },
    Param { key: "draw_size", help: "samples per repetition (10)" },
    Param { key: "seed", help: "seed of every random choice (0)" },
];

pub(super) struct NearBoundary {
    p: NearBoundaryParams,
    finetune: bool,
    ft: FineTuneParams,
    gan: bool,
    privatise: PrivatiseParams,
}

impl Default for NearBoundary {
    fn default() -> Self {
        let (p, ft, privatise) = near_boundary_defaults();
        NearBoundary { finetune: p.finetune.is_some(), gan: p.privatise.is_some(), p, ft, privatise }
    }
}

impl NearBoundary {
    /// The method's parameters as `generate` takes them; the seed fixes phase 3 too.
    fn params(&self) -> NearBoundaryParams {
        NearBoundaryParams {
            finetune: self.finetune.then(|| FineTuneParams { seed: self.p.seed, ..self.ft.clone() }),
            privatise: self.gan.then(|| self.privatise.clone()),
            ..self.p.clone()
        }
    }
}

impl Method for NearBoundary {
    fn entry(&self) -> &'static Entry {
        super::entry("near-boundary").expect("near-boundary is registered")
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), MethodError> {
        let p = &mut self.p;
        match key {
            "n" => p.samples = parse(value, "a count")?,
            "boundary" => match parse_list(value)?[..] {
                [s, t] => (p.source, p.target) = (s, t),
                _ => return Err(MethodError::BadParameter("the boundary takes two classes S,T".into())),
            },
            "tau" => p.tau = parse(value, "a number")?,
            "seeds" => p.seeds = parse(value, "a count")?,
            "cw_iterations" => p.cw_iterations = parse(value, "a count")?,
            "gan" => self.gan = parse_bool(value)?,
            "gan_steps" => self.privatise.gan.steps = parse(value, "a count")?,
            "gan_widths" => self.privatise.gan.widths = parse_list(value)?,
            "gan_latent" => self.privatise.gan.latent = parse(value, "a count")?,
            "finetune" => self.finetune = parse_bool(value)?,
            "ft_epochs" => self.ft.epochs = parse(value, "a count")?,
            "ft_space" => self.ft.space = parse_space(value)?,
            "ft_lr" => self.ft.lr = parse(value, "a number")?,
            "ft_max_drop" => self.ft.max_accuracy_drop = parse(value, "a number")?,
            "draws" => p.draws = parse(value, "a count")?,
            "draw_size" => p.draw_size = parse(value, "a count")?,
            "seed" => p.seed = parse(value, "an integer")?,
            _ => return Err(MethodError::BadParameter(format!("unknown key {key}"))),
        }
        Ok(())
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.params()).unwrap_or_default()
    }

    fn changes_owner(&self) -> bool {
        self.finetune
    }

    fn generate(&self, inputs: &OwnerInputs<'_>) -> Result<Generated, MethodError> {
        let p = self.params();
        let (evidence, tuned) = generate(inputs.model, inputs.train, inputs.held_out, &p)?;
        let summary =
            format!("near-boundary({},{}): {} samples ({})", p.source, p.target, evidence.len(), evidence.stats);
        Ok(Generated {
            summary,
            timings: evidence.timings.clone(),
            owner: p.finetune.is_some().then_some(tuned),
            evidence: Box::new(evidence),
        })
    }
}
