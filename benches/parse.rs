//! Benchmark: parsing the four FY2020-21 quarter pages from saved Parsoid HTML.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use goalsbot::core::parse::parse_quarter_page;
use goalsbot::core::records::{FiscalYear, Quarter};

const PAGES: [(Quarter, &str); 4] = [
    (
        Quarter::Q1,
        include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q1.html"),
    ),
    (
        Quarter::Q2,
        include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q2.html"),
    ),
    (
        Quarter::Q3,
        include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q3.html"),
    ),
    (
        Quarter::Q4,
        include_str!("../tests/fixtures/pages/Wikimedia_Technology%2FGoals%2F2020-21_Q4.html"),
    ),
];

fn parse_pages(c: &mut Criterion) {
    let fy = FiscalYear::starting(2020);
    let mut group = c.benchmark_group("parse_quarter_page");
    // One element per page, so criterion reports pages per second.
    group.throughput(Throughput::Elements(1));
    for (quarter, html) in PAGES {
        group.bench_function(quarter.as_str(), |b| {
            b.iter(|| parse_quarter_page(black_box(html), &fy, quarter))
        });
    }
    group.throughput(Throughput::Elements(PAGES.len() as u64));
    group.bench_function("all four", |b| {
        b.iter(|| {
            for (quarter, html) in PAGES {
                black_box(parse_quarter_page(black_box(html), &fy, quarter));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse_pages);
criterion_main!(benches);
