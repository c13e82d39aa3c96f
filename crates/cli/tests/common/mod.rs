//! Helpers shared by the end-to-end tests: run the `mown` binary, read what it printed, and
//! train the small digit models most tests start from. Each test file uses some of them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

/// Runs `mown` with `args` and waits for it.
pub fn mown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mown")).args(args).output().expect("run mown")
}

/// Everything the command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Asserts the command succeeded and returns what it printed.
pub fn ok(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

/// Asserts the command failed with an error (not a panic) that mentions `needle`.
pub fn assert_clean_failure(o: &Output, needle: &str) {
    let t = text(o);
    assert!(!o.status.success(), "expected failure: {t}");
    assert!(!t.contains("panicked"), "panic instead of an error: {t}");
    assert!(t.contains(needle), "error should mention '{needle}': {t}");
}

/// Trains an MLP on the embedded digits for `epochs` with `seed` and saves it at `out`.
pub fn train_digits_mlp(out: &str, epochs: &str, seed: &str) -> String {
    ok(mown(&[
        "train",
        "--arch",
        "mlp",
        "--data",
        "digits",
        "--epochs",
        epochs,
        "--out",
        out,
        "--no-progress",
        "--seed",
        seed,
    ]))
}

/// A `mown serve` child, killed when the test ends however it ends.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `mown serve` with `args` (use `--port 0`) and returns it with the URL it printed first.
pub fn serve(args: &[&str]) -> (Server, String) {
    let child =
        Command::new(env!("CARGO_BIN_EXE_mown")).arg("serve").args(args).stdout(Stdio::piped()).spawn().unwrap();
    let mut server = Server(child);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{first}"));
    (server, url.to_string())
}

/// A local RFC 3161 time-stamping authority in `dir` (made on first use: an RSA key and a
/// time-stamping certificate `tsa.crt`, by `openssl req`), answering the request file `query`
/// with the response file `response`, by `openssl ts -reply`.
pub fn tsa_reply(dir: &std::path::Path, query: &str, response: &str) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    if !dir.join("tsa.cnf").exists() {
        run(&[
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.crt",
            "-days",
            "30",
            "-subj",
            "/CN=mown test TSA",
            "-addext",
            "extendedKeyUsage=critical,timeStamping",
        ]);
        std::fs::write(dir.join("tsa-serial"), "01\n").unwrap();
        let cnf = format!(
            "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\ndir = {}\nserial = $dir/tsa-serial\ncrypto_device = builtin\n\
             signer_cert = $dir/tsa.crt\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
             default_policy = 1.2.3.4.1\ndigests = sha256\naccuracy = secs:1\ness_cert_id_alg = sha256\n",
            dir.display()
        );
        std::fs::write(dir.join("tsa.cnf"), cnf).unwrap();
    }
    run(&["ts", "-reply", "-config", "tsa.cnf", "-queryfile", query, "-out", response]);
}
