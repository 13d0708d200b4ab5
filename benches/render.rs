//! Benchmark: rendering the FY2020-21 tracker (deck import fixture) and planning a push of the Q3 page.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use goalsbot::config::Config;
use goalsbot::core::parse::parse_quarter_page;
use goalsbot::core::plan::{plan_overview, plan_quarter_page};
use goalsbot::core::records::{FiscalYearRecords, Quarter};
use goalsbot::core::render::Renderer;

const DECK: &str = include_str!("../tests/fixtures/import/fy2020-21-deck.json");
const Q3_WIKITEXT: &str =
    include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.wikitext");
const Q3_HTML: &str =
    include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.html");

fn render(c: &mut Criterion) {
    let export = goalsbot::core::export::from_json(DECK).expect("fixture parses");
    let records: FiscalYearRecords = export.fiscal_years[0].clone();
    let fy = records.fiscal_year.clone();
    let renderer = Renderer::with_dir(None).expect("built-in templates");
    let config = Config::default();
    let shown = FiscalYearRecords {
        fiscal_year: fy.clone(),
        objectives: parse_quarter_page(Q3_HTML, &fy, Quarter::Q3).objectives,
    };

    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(records.objectives.len() as u64));
    group.bench_function("status tables (per objective)", |b| {
        b.iter(|| {
            for o in &records.objectives {
                black_box(renderer.status_table(o).unwrap());
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("year overview page", |b| {
        b.iter(|| {
            black_box(
                plan_overview(
                    None,
                    &fy,
                    &records,
                    |q| config.pages.quarter_page(&fy, q),
                    &renderer,
                )
                .unwrap(),
            )
        })
    });
    group.bench_function("new quarter page", |b| {
        b.iter(|| {
            black_box(
                renderer
                    .new_quarter(&fy, Quarter::Q4, &records, "Wikimedia Technology/Goals")
                    .unwrap(),
            )
        })
    });
    group.bench_function("push plan of the Q3 page", |b| {
        b.iter(|| black_box(plan_quarter_page(Q3_WIKITEXT, &shown, &records, &renderer).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
