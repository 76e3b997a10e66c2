//! The examples, run on the 200-document sample of real all-MiniLM-L6-v2
//! embeddings checked in under `examples/data/minilm-sample` (each example
//! file is compiled into this test as a module and its `run` called).

// Each example includes the shared loader (`examples/common`) itself.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/semantic_search.rs"]
mod semantic_search;

#[allow(dead_code)]
#[path = "../examples/rag.rs"]
mod rag;

#[allow(dead_code)]
#[path = "../examples/recommendations.rs"]
mod recommendations;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/minilm-sample");

fn args(queries: &[usize]) -> Vec<String> {
    let mut a = vec!["--data".to_string(), SAMPLE.to_string()];
    for q in queries {
        a.extend(["--query".to_string(), q.to_string()]);
    }
    a
}

fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    1.0 - dot / (n(a) * n(b))
}

#[test]
fn semantic_search_finds_the_exact_nearest_paragraphs() {
    let answers = semantic_search::run(&args(&[0, 1, 2, 7])).unwrap();
    assert_eq!(answers.len(), 4);
    let corpus = {
        let mut docs = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(
            zstd::Decoder::new(std::fs::File::open(format!("{SAMPLE}/docs.jsonl.zst")).unwrap()).unwrap(),
        )) {
            let j: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let v: Vec<f32> = j["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            docs.push((j["id"].as_str().unwrap().to_owned(), v));
        }
        docs
    };
    for a in &answers {
        assert_eq!(a.hits.len(), 5);
        let mut exact: Vec<(f32, &str)> =
            corpus.iter().map(|(id, v)| (cosine_distance(&a.query.vector, v), id.as_str())).collect();
        exact.sort_by(|x, y| x.0.total_cmp(&y.0));
        let got: Vec<&str> = a.hits.iter().map(|h| h.id.as_str()).collect();
        let want: Vec<&str> = exact.iter().take(5).map(|e| e.1).collect();
        assert_eq!(got, want, "question {:?}", a.query.text);
        assert!(a.hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        assert!(a.hits.iter().all(|h| h.document.as_ref().is_some_and(|d| d.metadata.contains_key("text"))));
    }
}

#[test]
fn rag_retrieves_k_chunks_from_the_questions_project_only() {
    let out = rag::run(&args(&[0, 3, 4, 9])).unwrap();
    assert_eq!(out.len(), 4);
    for r in &out {
        assert!(!r.project.is_empty());
        assert_eq!(r.context.len(), 4, "{}", r.question);
        for h in &r.context {
            let d = h.document.as_ref().unwrap();
            assert_eq!(d.metadata["project"], vego::Value::Str(r.project.clone()));
            assert!(matches!(&d.metadata["source"], vego::Value::Str(s) if s.starts_with(&r.project)));
        }
    }
}

#[test]
fn recommendations_never_repeat_what_was_seen() {
    let out = recommendations::run(&args(&[5, 6, 8])).unwrap();
    for r in &out {
        assert_eq!(r.seen.len(), 3);
        assert_eq!(r.recommended.len(), 5);
        assert!(r.recommended.iter().all(|h| !r.seen.contains(&h.id)), "recommended a seen item");
        assert!(r.recommended.windows(2).all(|w| w[0].distance <= w[1].distance));
    }
}

#[test]
fn a_missing_dataset_names_the_layouts_and_the_doc_not_a_path_outside_the_repository() {
    let err = semantic_search::run(&["--data".into(), "/nonexistent/minilm-dev".into()]).err().unwrap().to_string();
    assert!(err.contains("docs.jsonl.zst") && err.contains("base.fvecs") && err.contains("docs/DATASETS.md"), "{err}");
    assert!(!err.contains("../"), "{err}");
}

/// Issue 14 (the newcomer's path): on a fresh clone there is no larger
/// dataset, and the examples must run on the checked-in sample, saying so,
/// instead of failing with a path outside the repository.
#[test]
fn without_a_larger_set_the_examples_fall_back_to_the_sample_and_say_so() {
    let missing = tempfile::tempdir().unwrap();
    let larger = missing.path().join("minilm-dev");
    let (dir, note) = semantic_search::common::choose_data(None, &larger, std::path::Path::new(SAMPLE));
    assert_eq!(dir, std::path::Path::new(SAMPLE));
    let note = note.expect("the fallback is announced");
    assert!(note.contains("sample") && note.contains("docs/DATASETS.md") && !note.contains("../"), "{note}");
    assert!(semantic_search::common::load(&dir, 0).unwrap().docs.len() == 200);

    // A larger set, once there, is used without a note; --data always wins.
    std::fs::create_dir_all(&larger).unwrap();
    std::fs::write(larger.join("base.fvecs"), b"").unwrap();
    assert_eq!(
        semantic_search::common::choose_data(None, &larger, std::path::Path::new(SAMPLE)),
        (larger.clone(), None)
    );
    let asked = std::path::PathBuf::from("elsewhere");
    assert_eq!(
        semantic_search::common::choose_data(Some(asked.clone()), &larger, std::path::Path::new(SAMPLE)).0,
        asked
    );
}
