//! Request batching: the model runs on one dedicated thread that gathers the images of
//! concurrent requests into one forward pass. burn's CPU inference is synchronous and already
//! parallel inside (rayon), so one pass over 256 images beats 32 passes over 8, and the async
//! runtime's threads never block on the model.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use mown_nn::Model;
use tokio::sync::oneshot;

/// Requests that may wait for the model at once; past this the server answers 503.
const QUEUE: usize = 4096;

struct Job {
    images: Vec<f32>,
    n: usize,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// Why a batch could not be answered.
#[derive(Debug)]
pub enum BatchError {
    /// The queue is full or the worker is gone: try again later (503).
    Unavailable(String),
    /// The model failed on these images (500).
    Failed(String),
}

/// Forward passes and images in them, for the mean batch size.
#[derive(Default)]
pub struct BatchCounters {
    pub calls: AtomicU64,
    pub images: AtomicU64,
}

/// The handle requests use to reach the inference thread; the thread ends when every handle
/// is dropped.
#[derive(Clone)]
pub struct Batcher {
    tx: SyncSender<Job>,
    pub counters: Arc<BatchCounters>,
}

impl Batcher {
    /// Starts the inference thread: it gathers requests for up to `max_delay` after the first
    /// arrives or until `max_batch` images are waiting, then runs one forward pass.
    pub fn start(model: Model, max_batch: usize, max_delay: Duration) -> std::io::Result<Batcher> {
        let (tx, rx) = sync_channel(QUEUE);
        let counters = Arc::new(BatchCounters::default());
        let c = counters.clone();
        let model = model.valid();
        std::thread::Builder::new()
            .name("mown-serve-infer".into())
            .spawn(move || worker(model, rx, max_batch.max(1), max_delay, &c))?;
        Ok(Batcher { tx, counters })
    }

    /// Softmax probabilities (`[n, classes]` row-major) for `n` validated images.
    pub async fn probabilities(&self, images: Vec<f32>, n: usize) -> Result<Vec<f32>, BatchError> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Job { images, n, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(BatchError::Unavailable(format!("server busy: {QUEUE} requests waiting")));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(BatchError::Unavailable("the inference thread has stopped".into()));
            }
        }
        match answer.await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(e)) => Err(BatchError::Failed(e)),
            Err(_) => Err(BatchError::Unavailable("the inference thread dropped the request".into())),
        }
    }
}

fn worker(model: Model, rx: Receiver<Job>, max_batch: usize, max_delay: Duration, counters: &BatchCounters) {
    let classes = model.num_classes();
    while let Ok(first) = rx.recv() {
        let mut total = first.n;
        let mut jobs = vec![first];
        let deadline = Instant::now() + max_delay;
        while total < max_batch {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(job) => {
                    total += job.n;
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        // A client that gave up (dropped its receiver) costs nothing further.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let total: usize = jobs.iter().map(|j| j.n).sum();
        counters.calls.fetch_add(1, Ordering::Relaxed);
        counters.images.fetch_add(total as u64, Ordering::Relaxed);
        let images: Vec<f32> = if jobs.len() == 1 {
            std::mem::take(&mut jobs[0].images)
        } else {
            jobs.iter().flat_map(|j| j.images.iter().copied()).collect()
        };
        match infer(&model, &images, total, classes) {
            Ok(probs) => {
                let mut rest = probs.as_slice();
                for job in jobs {
                    let (mine, tail) = rest.split_at(job.n * classes);
                    rest = tail;
                    let _ = job.reply.send(Ok(mine.to_vec()));
                }
            }
            // One client's images (say, huge pixels under --any-range, which overflow the
            // logits) must not fail the other requests batched with them: run each alone.
            Err(_) if jobs.len() > 1 => {
                for job in jobs {
                    let _ = job.reply.send(infer(&model, &job.images, job.n, classes));
                }
            }
            Err(reason) => {
                for job in jobs {
                    let _ = job.reply.send(Err(reason.clone()));
                }
            }
        }
    }
    tracing::debug!("inference thread stopped");
}

/// Probabilities for `n` images, or why there are none (logged).
fn infer(model: &Model, images: &[f32], n: usize, classes: usize) -> Result<Vec<f32>, String> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.probabilities(images)));
    let reason = match result {
        Ok(Ok(probs)) if probs.len() == n * classes => return Ok(probs),
        Ok(Ok(p)) => format!("model returned {} values for {n} images", p.len()),
        Ok(Err(e)) => format!("inference failed: {e}"),
        Err(_) => "inference panicked".to_string(),
    };
    tracing::error!("{reason}");
    Err(reason)
}
