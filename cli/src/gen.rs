//! `ringmarket gen`: seeded random scenarios, in the assignment's format, that provably finish.
//!
//! # Why every generated scenario finishes
//!
//! A producer cycles through its list forever and blocks while its queue is full, so a
//! producer whose queue fills with products nobody buys any more never reaches the other
//! products of its list. A consumer waiting for one of those would wait forever. The generator
//! rules this out by construction:
//!
//! 1. every product that any cart adds has a *dedicated* producer, whose list names that product
//!    only (possibly in several entries with different quantities and waits, each above 0);
//! 2. other producers ("mixed" ones) may list any products: they add competition and may well
//!    block for good once demand is met, but nobody depends on them.
//!
//! Take a consumer waiting to add product `p`, and `P` the dedicated producer of `p`. Producers
//! are only stopped once every consumer is done, so `P` keeps running. Either `P` publishes
//! again within its longest wait, or it is blocked on a full queue, and then all its units on
//! sale are units of `p`. The units of `p` that other carts can take are finite (every add has
//! a finite quantity, and a remove only puts back a unit taken before), so after finitely many
//! publishes a unit of `p` stays on sale until the waiting consumer's next attempt takes it.
//! Removes never block. So every operation of every cart completes, every consumer places all
//! its orders, and the run ends.
//!
//! The expected carts do not depend on timing either: a remove only ever returns units that the
//! cart holds at that point (the generator tracks the cart's contents), products have distinct
//! names so no two are equal in Python's sense, and so each cart ends with exactly its adds
//! minus its removes.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringmarket_cli::staged::StagedFiles;
use serde_json::{json, Map, Value};

use crate::scenario::check;
use crate::Failure;

/// The most products, and the most mixed producers (`--products`, `--mixed-producers`).
pub const MAX_PRODUCERS: u64 = 100_000;
/// The most consumers (`--consumers`).
pub const MAX_CONSUMERS: u64 = 100_000;
/// The most carts per consumer and operations per cart (`--carts`, `--ops`).
pub const MAX_PER_LEVEL: u64 = 1_000;
/// The most units per operation or producer entry (`--max-quantity`).
pub const MAX_QUANTITY: u64 = 1_000_000;
/// The most cart operations a scenario may have: `--consumers` x `--carts` x `--ops`. The
/// whole scenario and its expected output are built in memory, so the sizes are bounded.
pub const MAX_OPERATIONS: u64 = 500_000;
/// The most units the expected output may list: `--consumers` x `--carts` x `--ops` x
/// `--max-quantity` (one line per unit bought).
pub const MAX_UNITS: u64 = 10_000_000;

/// A parser of a size from `min` to `max`.
fn sized(min: u64, max: u64) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(min..=max)
}

/// Options of `ringmarket gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output path without extension: writes PREFIX.json (with expected carts), PREFIX.in and
    /// PREFIX.ref.out.
    #[arg(short, long, value_name = "PREFIX")]
    pub output: PathBuf,
    /// Seed of the random generator: the same seed and sizes give the same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of distinct products: 1 to 100000.
    #[arg(long, default_value_t = 10, value_parser = sized(1, MAX_PRODUCERS))]
    pub products: usize,
    /// Number of producers besides the one dedicated producer each product gets: 0 to 100000.
    #[arg(long, default_value_t = 5, value_parser = sized(0, MAX_PRODUCERS))]
    pub mixed_producers: usize,
    /// Number of consumers: 0 to 100000.
    #[arg(long, default_value_t = 20, value_parser = sized(0, MAX_CONSUMERS))]
    pub consumers: usize,
    /// Most carts per consumer (each gets 1 to this many): 1 to 1000. Consumers x carts x
    /// ops must be at most 500000.
    #[arg(long, default_value_t = 4, value_parser = sized(1, MAX_PER_LEVEL))]
    pub carts: usize,
    /// Most operations per cart (each gets 1 to this many): 1 to 1000. Consumers x carts x ops
    /// must be at most 500000.
    #[arg(long, default_value_t = 5, value_parser = sized(1, MAX_PER_LEVEL))]
    pub ops: usize,
    /// Most units per operation or producer entry: 1 to 1000000. Consumers x carts x ops x
    /// this (the most units the expected output can list) must be at most 10000000.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=MAX_QUANTITY))]
    pub max_quantity: u64,
    /// Queue size per producer.
    #[arg(long, default_value_t = 20)]
    pub queue_size: u64,
    /// Longest wait time in seconds (waits are drawn in hundredths from 0.01 up to this).
    #[arg(long, default_value_t = 0.4)]
    pub max_wait: f64,
    /// Do not write PREFIX.in.
    #[arg(long)]
    pub no_in: bool,
    /// Do not write PREFIX.ref.out.
    #[arg(long)]
    pub no_ref: bool,
}

const TEA_NAMES: &[&str] = &[
    "Linden",
    "Jasmine",
    "Earl Grey",
    "Sencha",
    "Rooibos",
    "Chamomile",
    "Darjeeling",
    "Assam",
    "Oolong",
    "Mint",
];
const TEA_TYPES: &[&str] = &["Herbal", "Green", "Black", "White", "Oolong"];
const COFFEE_NAMES: &[&str] = &[
    "Indonezia",
    "Brasil",
    "Ethiopia",
    "Robusta",
    "Arabica",
    "Kenya",
    "Colombia",
    "Java",
];
const ROASTS: &[&str] = &["LIGHT", "MEDIUM", "DARK"];

impl GenArgs {
    fn check(&self) -> Result<(), String> {
        if self.products == 0 {
            return Err("--products must be at least 1".into());
        }
        // Each factor is bounded by its parser; the products are bounded here (in u128, which
        // no four of them can overflow).
        let operations = self.consumers as u128 * self.carts as u128 * self.ops as u128;
        if operations > u128::from(MAX_OPERATIONS) {
            return Err(format!(
                "--consumers x --carts x --ops is {operations}, more than the most \
                 operations a scenario may have ({MAX_OPERATIONS})"
            ));
        }
        let units = operations * u128::from(self.max_quantity);
        if units > u128::from(MAX_UNITS) {
            return Err(format!(
                "--consumers x --carts x --ops x --max-quantity is {units}, more than the most \
                 units the expected output may list ({MAX_UNITS})"
            ));
        }
        if self.carts == 0 || self.ops == 0 || self.max_quantity == 0 || self.queue_size == 0 {
            return Err(
                "--carts, --ops, --max-quantity and --queue-size must be at least 1".into(),
            );
        }
        if self.queue_size > crate::scenario::MAX_QUEUE_SIZE {
            return Err(format!(
                "--queue-size must be at most {}",
                crate::scenario::MAX_QUEUE_SIZE
            ));
        }
        if !(self.max_wait.is_finite() && self.max_wait >= 0.01) {
            return Err("--max-wait must be a number of seconds, at least 0.01".into());
        }
        Ok(())
    }
}

/// A wait in hundredths of a second, 0.01 up to `max`.
/// One `[product, quantity, wait]` entry of a producer's list.
fn producer_entry(rng: &mut StdRng, args: &GenArgs, id: &str) -> Value {
    json!([
        id,
        rng.random_range(1..=args.max_quantity),
        wait(rng, args.max_wait)
    ])
}

/// A producer (named later) with its list and a random republish wait.
fn producer(rng: &mut StdRng, args: &GenArgs, entries: Vec<Value>) -> Value {
    json!({
        "name": "",
        "products": entries,
        "republish_wait_time": wait(rng, args.max_wait),
    })
}

fn wait(rng: &mut StdRng, max: f64) -> Value {
    let hundredths = rng.random_range(1..=((max * 100.0).round() as u64).max(1));
    // Through the decimal text so that 0.07 stays 0.07 in the file.
    serde_json::from_str(&format!("{}.{:02}", hundredths / 100, hundredths % 100))
        .expect("a decimal literal")
}

/// Builds the scenario as the generator's JSON (carts with `ops` and `expected_cart`).
pub fn generate(args: &GenArgs) -> Value {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let ids: Vec<String> = (1..=args.products).map(|i| format!("id{i}")).collect();
    let mut products = Map::new();
    for (i, id) in ids.iter().enumerate() {
        // Distinct names (the index is part of each) keep products unequal in Python's sense.
        let product = if rng.random_bool(0.5) {
            json!({
                "product_type": "Tea",
                "name": format!("{} {}", TEA_NAMES[rng.random_range(0..TEA_NAMES.len())], i + 1),
                "type": TEA_TYPES[rng.random_range(0..TEA_TYPES.len())],
                "price": rng.random_range(1..=10),
            })
        } else {
            let acidity = rng.random_range(500..=510);
            json!({
                "product_type": "Coffee",
                "name": format!("{} {}", COFFEE_NAMES[rng.random_range(0..COFFEE_NAMES.len())], i + 1),
                "acidity": serde_json::from_str::<Value>(&format!("{}.{:02}", acidity / 100, acidity % 100)).expect("a decimal literal"),
                "roast_level": ROASTS[rng.random_range(0..ROASTS.len())],
                "price": rng.random_range(1..=10),
            })
        };
        products.insert(id.clone(), product);
    }

    let mut producers = Vec::new();
    // One dedicated producer per product: the liveness argument rests on these.
    for id in &ids {
        let entries: Vec<Value> = (0..rng.random_range(1..=2))
            .map(|_| producer_entry(&mut rng, args, id))
            .collect();
        producers.push(producer(&mut rng, args, entries));
    }
    for _ in 0..args.mixed_producers {
        let entries: Vec<Value> = (0..rng.random_range(1..=args.products.min(8)))
            .map(|_| {
                let id = &ids[rng.random_range(0..ids.len())];
                producer_entry(&mut rng, args, id)
            })
            .collect();
        producers.push(producer(&mut rng, args, entries));
    }
    // Interleave dedicated and mixed producers so their order says nothing, then name them.
    for i in (1..producers.len()).rev() {
        let j = rng.random_range(0..=i);
        producers.swap(i, j);
    }
    for (i, p) in producers.iter_mut().enumerate() {
        p["name"] = json!(format!("prod{}", i + 1));
    }

    let mut consumers = Vec::new();
    for c in 0..args.consumers {
        let mut carts = Vec::new();
        for _ in 0..rng.random_range(1..=args.carts) {
            let mut held: BTreeMap<usize, u64> = BTreeMap::new();
            let mut order: Vec<usize> = Vec::new();
            let mut ops = Vec::new();
            for _ in 0..rng.random_range(1..=args.ops) {
                let removable: Vec<(usize, u64)> = held
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(p, n)| (*p, *n))
                    .collect();
                if !removable.is_empty() && rng.random_bool(0.3) {
                    let (p, n) = removable[rng.random_range(0..removable.len())];
                    let q = rng.random_range(1..=n);
                    *held.get_mut(&p).expect("removable came from held") -= q;
                    ops.push(json!({"type": "remove", "product": ids[p], "quantity": q}));
                } else {
                    let p = rng.random_range(0..ids.len());
                    let q = rng.random_range(1..=args.max_quantity);
                    if !held.contains_key(&p) {
                        order.push(p);
                    }
                    *held.entry(p).or_insert(0) += q;
                    ops.push(json!({"type": "add", "product": ids[p], "quantity": q}));
                }
            }
            let mut expected = Map::new();
            for p in order {
                if held[&p] > 0 {
                    expected.insert(ids[p].clone(), json!(held[&p]));
                }
            }
            carts.push(json!({"ops": ops, "expected_cart": expected}));
        }
        consumers.push(json!({
            "name": format!("cons{}", c + 1),
            "retry_wait_time": wait(&mut rng, args.max_wait),
            "carts": carts,
        }));
    }

    json!({
        "products": products,
        "producers": producers,
        "consumers": consumers,
        "marketplace": {"queue_size_per_producer": args.queue_size},
    })
}

/// The `.in` form: each cart reduced to its list of operations.
pub fn to_in_form(scenario: &Value) -> Value {
    let mut v = scenario.clone();
    if let Some(consumers) = v["consumers"].as_array_mut() {
        for c in consumers {
            if let Some(carts) = c["carts"].as_array_mut() {
                for cart in carts {
                    *cart = cart["ops"].take();
                }
            }
        }
    }
    v
}

fn pretty(v: &Value) -> String {
    use serde::Serialize as _;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    v.serialize(&mut ser).expect("a Value always serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Runs `ringmarket gen`.
///
/// # Errors
///
/// Status 2 for bad options or files that cannot be written, 70 for a generated scenario that
/// does not parse (a bug), with the reason.
pub fn main(args: GenArgs) -> Result<(), Failure> {
    args.check()
        .map_err(|e| Failure::new(2, format!("ringmarket gen: {e}")))?;
    let scenario = generate(&args);
    let text = pretty(&scenario);
    // The generated file goes through the same parser as any input: a generator bug that
    // wrote an invalid scenario stops here.
    let parsed = crate::scenario::Scenario::parse(&text).map_err(|e| {
        Failure::new(
            70,
            format!("ringmarket gen: internal error, generated an invalid scenario: {e}"),
        )
    })?;
    let lines = parsed
        .expected_lines()
        .expect("every generated cart has expected_cart");
    let mut ref_out = check::normalize(&lines.join("\n")).join("\n");
    if !ref_out.is_empty() {
        ref_out.push('\n');
    }
    let with_ext = |ext: &str| {
        let mut p = args.output.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let mut files = vec![(with_ext(".json"), text)];
    if !args.no_in {
        files.push((with_ext(".in"), pretty(&to_in_form(&scenario))));
    }
    if !args.no_ref {
        files.push((with_ext(".ref.out"), ref_out));
    }
    // All three are written to temporaries first and replace the old files together, so a
    // failure leaves the old set as it was (and no mismatched or truncated file).
    let mut staged = StagedFiles::new();
    for (path, contents) in files {
        staged
            .create(&path)
            .and_then(|mut file| {
                file.write_all(contents.as_bytes())?;
                file.sync_all()
            })
            .map_err(|e| {
                Failure::new(
                    2,
                    format!("ringmarket gen: cannot write {}: {e}", path.display()),
                )
            })?;
    }
    staged
        .commit()
        .map_err(|e| Failure::new(2, format!("ringmarket gen: {e}")))
}
