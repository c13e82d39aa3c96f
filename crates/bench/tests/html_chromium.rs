//! The HTML report in a real browser: headless Chromium loads the example report and a verdict
//! page, every inline SVG survives parsing with its shapes, the page logs nothing to the console
//! (it has no script; an escaping bug would run the injected one below), and a screenshot renders.
//! Skipped when no Chromium is installed, unless MOWN_REQUIRE_CHROMIUM=1 (CI sets it). With
//! MOWN_HTML_KEEP=DIR the pages and screenshots are written to DIR to be looked at; with
//! MOWN_HTML_REPORT=report.json a real report is checked instead of the synthetic one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs Chromium with a deadline (a hung browser must fail the test, not the CI job). Output goes
/// to files: a DOM larger than the pipe buffer would block a browser writing into an unread pipe.
fn run(bin: &Path, profile: &Path, args: &[String]) -> Output {
    std::fs::create_dir_all(profile).unwrap();
    let (out, err) = (profile.join("stdout.txt"), profile.join("stderr.txt"));
    let mut child = Command::new(bin)
        .args(["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium {args:?} ran past 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output { status, stdout: std::fs::read(&out).unwrap(), stderr: std::fs::read(&err).unwrap() }
}

/// Console messages of the page (Chromium logs them as `INFO:CONSOLE(...)` lines on stderr).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect()
}

/// Loads `page`, checks the parsed DOM and the console; returns the number of SVGs.
fn check_dom(bin: &Path, profile: &Path, page: &Path) -> usize {
    let source = std::fs::read_to_string(page).unwrap();
    let out = run(bin, profile, &["--dump-dom".into(), format!("file://{}", page.display())]);
    let (dom, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "chromium --dump-dom failed ({}): {stderr}", out.status);
    assert_eq!(console_lines(&stderr), Vec::<&str>::new(), "console messages from {}", page.display());
    let expected = source.matches("<svg").count();
    assert!(expected > 0);
    assert_eq!(dom.matches("<svg").count(), expected, "every SVG of {} is in the DOM", page.display());
    for (i, _) in dom.match_indices("<svg") {
        let svg = &dom[i..i + dom[i..].find("</svg>").expect("closed svg in DOM")];
        let shapes = ["<path", "<polyline", "<circle", "<rect"].iter().map(|e| svg.matches(e).count()).sum::<usize>();
        assert!(shapes > 0 && svg.contains("<text"), "SVG without child elements in the DOM: {svg}");
    }
    assert!(!dom.contains("<script"), "escaped data must not become a script element");
    expected
}

fn screenshot(bin: &Path, profile: &Path, page: &Path, png: &Path) {
    let out = run(
        bin,
        profile,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,3000".into(),
            "--hide-scrollbars".into(),
            format!("file://{}", page.display()),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium --screenshot failed ({}): {stderr}", out.status);
    assert_eq!(console_lines(&stderr), Vec::<&str>::new(), "console messages from {}", page.display());
    let bytes = std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot {}: {e}", png.display()));
    assert!(bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"), "screenshot {} is not a PNG", png.display());
}

#[test]
fn report_renders_in_chromium() {
    let Some(bin) = chromium() else {
        if std::env::var("MOWN_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("MOWN_REQUIRE_CHROMIUM=1 but neither chromium nor chromium-browser is on PATH");
        }
        eprintln!("skipped: chromium not installed");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("MOWN_HTML_KEEP").map(PathBuf::from).unwrap_or_else(|| tmp.path().join("out"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let profile = tmp.path().join("profile");

    let report = match std::env::var_os("MOWN_HTML_REPORT") {
        Some(json) => serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap(),
        None => {
            let mut report = mown_bench::html::example_report();
            // A model name that would log to the console if the page did not escape it.
            let evil = "train(mlp)<script>console.error('not escaped')</script>";
            let old = std::mem::replace(&mut report.models[3].name, evil.into());
            for row in report.methods.iter_mut().flat_map(|m| &mut m.rows).filter(|r| r.model == old) {
                (row.model, row.suspect) = (evil.into(), evil.into());
            }
            report
        }
    };
    let (_, html) = mown_bench::html::write_report(&report, &dir).unwrap();
    let plots = check_dom(&bin, &profile, &html);
    assert_eq!(plots, 4 * report.methods.len() + 1);
    screenshot(&bin, &profile, &html, &dir.join("report.png"));

    let verdict = &report.methods.last().and_then(|m| m.rows.first()).expect("a verdict").verdict;
    let context = serde_json::json!({ "evidence": "fp.json", "suspect": "copy.safetensors" });
    let page = dir.join("verdict.html");
    std::fs::write(&page, mown_bench::html::verdict_html(verdict, &context).unwrap()).unwrap();
    assert_eq!(check_dom(&bin, &profile, &page), 1);
    screenshot(&bin, &profile, &page, &dir.join("verdict.png"));
}
