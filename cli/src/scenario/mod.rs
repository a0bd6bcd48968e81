//! The assignment's scenario format: products, producers, consumers and the market's size.
//!
//! [`Scenario::parse`] reads both forms the assignment uses: the `.in` form, where a cart is a
//! list of operations, and the generator's `.json` form, where a cart is
//! `{"ops": [...], "expected_cart": {id: count}}`. Every value is checked before anything runs;
//! an error names its place in the file as a path such as
//! `consumers[0].carts[1][2].quantity` (or a line and column for malformed JSON).

pub mod check;
pub mod pyrepr;

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};

/// The largest per-producer queue a scenario may ask for.
pub const MAX_QUEUE_SIZE: u64 = u32::MAX as u64;

/// The most output lines the `expected_cart`s of a scenario may promise, over all its carts
/// (ten million, about a gigabyte of text to compare): more is refused rather than built.
pub const MAX_EXPECTED_LINES: u64 = 10_000_000;

/// A scenario that failed to parse or to validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    /// The text is not JSON.
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// The JSON does not describe a valid scenario.
    Invalid {
        /// Where in the document, e.g. `consumers[0].carts[1][2].quantity`.
        path: String,
        /// What is wrong there.
        message: String,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Syntax {
                line,
                column,
                message,
            } => write!(f, "line {line}, column {column}: malformed JSON: {message}"),
            ScenarioError::Invalid { path, message } => write!(f, "at {path}: {message}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A number as Python's `json` module reads it: an `int` (exact digits) or a `float`.
#[derive(Debug, Clone, PartialEq)]
pub enum PyNumber {
    /// An integer literal, digits kept exactly.
    Int(String),
    /// A literal with a fraction or an exponent (`inf` when it overflows, as in Python).
    Float(f64),
}

impl PyNumber {
    fn from_json(n: &Number) -> PyNumber {
        let text = n.to_string();
        if text.contains(['.', 'e', 'E']) {
            PyNumber::Float(text.parse().unwrap_or(f64::NAN))
        } else {
            PyNumber::Int(text)
        }
    }

    /// Python's `repr`.
    pub fn repr(&self) -> String {
        match self {
            PyNumber::Int(digits) => pyrepr::int(digits),
            PyNumber::Float(x) => pyrepr::float(*x),
        }
    }

    /// A key equal for two numbers exactly when Python's `==` says they are equal
    /// (`5 == 5.0`, `0 == -0.0`).
    fn eq_key(&self) -> String {
        match self {
            PyNumber::Int(digits) => format!("n{}", pyrepr::int(digits)),
            PyNumber::Float(x) if x.is_finite() && x.fract() == 0.0 => {
                // `{:.0}` writes every digit of an integral float exactly.
                let digits = format!("{:.0}", x);
                format!("n{}", if digits == "-0" { "0" } else { &digits })
            }
            PyNumber::Float(x) => format!("f{}", pyrepr::float(*x)),
        }
    }
}

/// One field value of a product.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// A `str` field.
    Str(String),
    /// A number field.
    Num(PyNumber),
}

impl FieldValue {
    fn repr(&self) -> String {
        match self {
            FieldValue::Str(s) => pyrepr::string(s),
            FieldValue::Num(n) => n.repr(),
        }
    }

    fn eq_key(&self) -> String {
        match self {
            FieldValue::Str(s) => format!("s{}:{s}", s.len()),
            FieldValue::Num(n) => n.eq_key(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    Str,
    Num,
}

/// The two product classes of the assignment, with their dataclass fields in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductClass {
    /// `Tea(name, price, type)`.
    Tea,
    /// `Coffee(name, price, acidity, roast_level)`.
    Coffee,
}

impl ProductClass {
    fn fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            ProductClass::Tea => &[
                ("name", FieldType::Str),
                ("price", FieldType::Num),
                ("type", FieldType::Str),
            ],
            ProductClass::Coffee => &[
                ("name", FieldType::Str),
                ("price", FieldType::Num),
                ("acidity", FieldType::Num),
                ("roast_level", FieldType::Str),
            ],
        }
    }

    /// The class name, as in the `product_type` field.
    pub fn name(self) -> &'static str {
        match self {
            ProductClass::Tea => "Tea",
            ProductClass::Coffee => "Coffee",
        }
    }
}

/// A product definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Its id in the `products` map.
    pub id: String,
    /// `Tea` or `Coffee`.
    pub class: ProductClass,
    /// The field values in dataclass order.
    pub fields: Vec<FieldValue>,
    /// Python's dataclass repr, computed once.
    pub repr: String,
    /// Index of the first product that Python's `==` finds equal to this one (possibly itself):
    /// equal products are interchangeable on the market.
    pub equal_class: usize,
}

/// One entry of a producer's list: publish `quantity` units, waiting `wait` after each.
#[derive(Debug, Clone, PartialEq)]
pub struct Supply {
    /// Index into [`Scenario::products`].
    pub product: usize,
    /// Units per round.
    pub quantity: u64,
    /// Seconds to wait after each successful publish.
    pub wait: f64,
}

/// A producer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerSpec {
    /// Its name.
    pub name: String,
    /// The list it cycles through forever.
    pub supplies: Vec<Supply>,
    /// Seconds to wait before retrying a publish on a full queue.
    pub republish_wait: f64,
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Reserve units, retrying until each succeeds.
    Add,
    /// Return units from the cart.
    Remove,
}

/// One cart operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Add or remove.
    pub kind: OpKind,
    /// Index into [`Scenario::products`].
    pub product: usize,
    /// How many units.
    pub quantity: u64,
}

/// One shopping session.
#[derive(Debug, Clone, PartialEq)]
pub struct CartSpec {
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// The generator's `expected_cart`: product index and count, if the file has it.
    pub expected: Option<Vec<(usize, u64)>>,
}

/// A consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerSpec {
    /// Its name, printed before `bought`.
    pub name: String,
    /// Seconds to wait before retrying an add.
    pub retry_wait: f64,
    /// Its carts, run one after the other.
    pub carts: Vec<CartSpec>,
}

/// A whole scenario, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The products, in file order.
    pub products: Vec<Product>,
    /// The producers.
    pub producers: Vec<ProducerSpec>,
    /// The consumers.
    pub consumers: Vec<ConsumerSpec>,
    /// `marketplace.queue_size_per_producer`.
    pub queue_size: usize,
}

/// A JSON path under construction, printed like `consumers[0].carts[1][2].quantity`.
#[derive(Clone)]
struct Path(String);

impl Path {
    fn root() -> Path {
        Path(String::new())
    }

    fn key(&self, key: &str) -> Path {
        let plain = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if plain {
            if self.0.is_empty() {
                Path(key.to_owned())
            } else {
                Path(format!("{}.{key}", self.0))
            }
        } else {
            Path(format!("{}[{}]", self.0, Value::String(key.to_owned())))
        }
    }

    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    fn err(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            path: if self.0.is_empty() {
                "the top level".to_owned()
            } else {
                self.0.clone()
            },
            message: message.into(),
        }
    }
}

/// A short description of a JSON value for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("the string {}", Value::String(shown))
        }
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn object<'a>(
    v: &'a Value,
    path: &Path,
    what: &str,
) -> Result<&'a Map<String, Value>, ScenarioError> {
    v.as_object().ok_or_else(|| {
        path.err(format!(
            "expected {what} (a JSON object), found {}",
            describe(v)
        ))
    })
}

fn array<'a>(v: &'a Value, path: &Path, what: &str) -> Result<&'a [Value], ScenarioError> {
    v.as_array().map(Vec::as_slice).ok_or_else(|| {
        path.err(format!(
            "expected {what} (a JSON list), found {}",
            describe(v)
        ))
    })
}

fn string<'a>(v: &'a Value, path: &Path) -> Result<&'a str, ScenarioError> {
    v.as_str()
        .ok_or_else(|| path.err(format!("expected a string, found {}", describe(v))))
}

/// Checks that `obj` has exactly the keys `required` (plus any of `optional`).
fn fields<'a>(
    obj: &'a Map<String, Value>,
    path: &Path,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<Option<&'a Value>>, ScenarioError> {
    for key in obj.keys() {
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            let all: Vec<String> = required
                .iter()
                .chain(optional)
                .map(|k| format!("`{k}`"))
                .collect();
            return Err(path
                .key(key)
                .err(format!("unknown field, expected one of {}", all.join(", "))));
        }
    }
    let mut out = Vec::with_capacity(required.len() + optional.len());
    for key in required {
        match obj.get(*key) {
            Some(v) => out.push(Some(v)),
            None => return Err(path.err(format!("missing field `{key}`"))),
        }
    }
    for key in optional {
        out.push(obj.get(*key));
    }
    Ok(out)
}

/// A non-negative JSON integer (no fraction, no exponent) that fits a `u64`.
fn count(v: &Value, path: &Path, what: &str) -> Result<u64, ScenarioError> {
    let bad = || {
        path.err(format!(
            "expected {what} (a whole number, 0 or more), found {}",
            describe(v)
        ))
    };
    let Value::Number(n) = v else {
        return Err(bad());
    };
    match PyNumber::from_json(n) {
        PyNumber::Int(digits) if !digits.starts_with('-') || digits == "-0" => digits
            .trim_start_matches('-')
            .parse()
            .map_err(|_| path.err(format!("{what} {digits} is too large"))),
        _ => Err(bad()),
    }
}

/// A wait time in seconds: a finite number, 0 or more.
fn seconds(v: &Value, path: &Path) -> Result<f64, ScenarioError> {
    let Value::Number(n) = v else {
        return Err(path.err(format!(
            "expected a wait time in seconds (a number), found {}",
            describe(v)
        )));
    };
    let x: f64 = n.to_string().parse().unwrap_or(f64::NAN);
    if !x.is_finite() {
        return Err(path.err(format!("wait time {n} is too large")));
    }
    if x < 0.0 {
        return Err(path.err(format!("wait time {n} is negative")));
    }
    Ok(x)
}

impl Scenario {
    /// Parses and validates a scenario.
    ///
    /// # Errors
    ///
    /// Malformed JSON (with line and column), a missing, unknown or mistyped field, an unknown
    /// product id or type, a negative or fractional quantity, a negative wait, a queue size of
    /// 0, or an added product that no producer publishes (with the path of the culprit).
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let root: Value = serde_json::from_str(text).map_err(|e| ScenarioError::Syntax {
            line: e.line(),
            column: e.column(),
            message: {
                // serde_json appends " at line L column C"; the position is reported apart.
                let full = e.to_string();
                match full.rfind(" at line ") {
                    Some(i) => full[..i].to_owned(),
                    None => full,
                }
            },
        })?;
        Scenario::from_value(&root)
    }

    fn from_value(root: &Value) -> Result<Scenario, ScenarioError> {
        let top = Path::root();
        let obj = object(root, &top, "a scenario")?;
        let f = fields(
            obj,
            &top,
            &["products", "producers", "consumers", "marketplace"],
            &[],
        )?;
        let (products_v, producers_v, consumers_v, market_v) =
            (f[0].unwrap(), f[1].unwrap(), f[2].unwrap(), f[3].unwrap());

        // Products.
        let ppath = top.key("products");
        let pmap = object(products_v, &ppath, "a map from product id to product")?;
        let mut products = Vec::with_capacity(pmap.len());
        let mut by_id = HashMap::with_capacity(pmap.len());
        let mut classes: HashMap<String, usize> = HashMap::new();
        for (id, pv) in pmap {
            let path = ppath.key(id);
            let po = object(pv, &path, "a product")?;
            let kind_v = po
                .get("product_type")
                .ok_or_else(|| path.err("missing field `product_type`"))?;
            let class = match string(kind_v, &path.key("product_type"))? {
                "Tea" => ProductClass::Tea,
                "Coffee" => ProductClass::Coffee,
                other => {
                    return Err(path.key("product_type").err(format!(
                        "unknown product type {}, expected \"Tea\" or \"Coffee\"",
                        Value::String(other.to_owned())
                    )))
                }
            };
            let schema = class.fields();
            let mut names: Vec<&str> = vec!["product_type"];
            names.extend(schema.iter().map(|(n, _)| *n));
            let vals = fields(po, &path, &names, &[])?;
            let mut values = Vec::with_capacity(schema.len());
            for ((name, ty), v) in schema.iter().zip(&vals[1..]) {
                let v = v.unwrap();
                let fpath = path.key(name);
                values.push(match (ty, v) {
                    (FieldType::Str, Value::String(s)) => FieldValue::Str(s.clone()),
                    (FieldType::Num, Value::Number(n)) => FieldValue::Num(PyNumber::from_json(n)),
                    (FieldType::Str, _) => {
                        return Err(fpath.err(format!("expected a string, found {}", describe(v))))
                    }
                    (FieldType::Num, _) => {
                        return Err(fpath.err(format!("expected a number, found {}", describe(v))))
                    }
                });
            }
            let repr = format!(
                "{}({})",
                class.name(),
                schema
                    .iter()
                    .zip(&values)
                    .map(|((n, _), v)| format!("{n}={}", v.repr()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let key = format!(
                "{}|{}",
                class.name(),
                values
                    .iter()
                    .map(FieldValue::eq_key)
                    .collect::<Vec<_>>()
                    .join("|")
            );
            let index = products.len();
            let equal_class = *classes.entry(key).or_insert(index);
            by_id.insert(id.as_str(), index);
            products.push(Product {
                id: id.clone(),
                class,
                fields: values,
                repr,
                equal_class,
            });
        }
        let product_ref = |v: &Value, path: &Path| -> Result<usize, ScenarioError> {
            let id = v.as_str().ok_or_else(|| {
                path.err(format!(
                    "expected a product id (a string), found {}",
                    describe(v)
                ))
            })?;
            by_id.get(id).copied().ok_or_else(|| {
                path.err(format!(
                    "unknown product id {}",
                    Value::String(id.to_owned())
                ))
            })
        };

        // Producers.
        let path = top.key("producers");
        let list = array(producers_v, &path, "a list of producers")?;
        let mut producers = Vec::with_capacity(list.len());
        for (i, pv) in list.iter().enumerate() {
            let path = path.index(i);
            let po = object(pv, &path, "a producer")?;
            let f = fields(po, &path, &["name", "products", "republish_wait_time"], &[])?;
            let name = string(f[0].unwrap(), &path.key("name"))?.to_owned();
            let spath = path.key("products");
            let slist = array(
                f[1].unwrap(),
                &spath,
                "a list of [product id, quantity, wait]",
            )?;
            let mut supplies = Vec::with_capacity(slist.len());
            for (j, sv) in slist.iter().enumerate() {
                let path = spath.index(j);
                let entry = array(sv, &path, "a [product id, quantity, wait] triple")?;
                if entry.len() != 3 {
                    return Err(path.err(format!(
                        "expected a [product id, quantity, wait] triple, found a list of {}",
                        entry.len()
                    )));
                }
                supplies.push(Supply {
                    product: product_ref(&entry[0], &path.index(0))?,
                    quantity: count(&entry[1], &path.index(1), "a quantity")?,
                    wait: seconds(&entry[2], &path.index(2))?,
                });
            }
            let republish_wait = seconds(f[2].unwrap(), &path.key("republish_wait_time"))?;
            producers.push(ProducerSpec {
                name,
                supplies,
                republish_wait,
            });
        }

        // Consumers.
        let path = top.key("consumers");
        let list = array(consumers_v, &path, "a list of consumers")?;
        let mut consumers = Vec::with_capacity(list.len());
        for (i, cv) in list.iter().enumerate() {
            let path = path.index(i);
            let co = object(cv, &path, "a consumer")?;
            let f = fields(co, &path, &["name", "retry_wait_time", "carts"], &[])?;
            let name = string(f[0].unwrap(), &path.key("name"))?.to_owned();
            let retry_wait = seconds(f[1].unwrap(), &path.key("retry_wait_time"))?;
            let cpath = path.key("carts");
            let clist = array(f[2].unwrap(), &cpath, "a list of carts")?;
            let mut carts = Vec::with_capacity(clist.len());
            for (j, cartv) in clist.iter().enumerate() {
                let path = cpath.index(j);
                // `.in` form: a list of operations; `.json` form: {ops, expected_cart}.
                let (ops_v, ops_path, expected_v) = match cartv {
                    Value::Object(o) => {
                        let f = fields(o, &path, &["ops"], &["expected_cart"])?;
                        (f[0].unwrap(), path.key("ops"), f[1])
                    }
                    _ => (cartv, path.clone(), None),
                };
                let olist = array(ops_v, &ops_path, "a cart (a list of operations)")?;
                let mut ops = Vec::with_capacity(olist.len());
                for (k, ov) in olist.iter().enumerate() {
                    let path = ops_path.index(k);
                    let oo = object(ov, &path, "an operation")?;
                    let f = fields(oo, &path, &["type", "product", "quantity"], &[])?;
                    let kind = match string(f[0].unwrap(), &path.key("type"))? {
                        "add" => OpKind::Add,
                        "remove" => OpKind::Remove,
                        other => {
                            return Err(path.key("type").err(format!(
                                "unknown operation {}, expected \"add\" or \"remove\"",
                                Value::String(other.to_owned())
                            )))
                        }
                    };
                    ops.push(Op {
                        kind,
                        product: product_ref(f[1].unwrap(), &path.key("product"))?,
                        quantity: count(f[2].unwrap(), &path.key("quantity"), "a quantity")?,
                    });
                }
                let expected = match expected_v {
                    None => None,
                    Some(ev) => {
                        let epath = path.key("expected_cart");
                        let eo = object(ev, &epath, "a map from product id to count")?;
                        let mut out = Vec::with_capacity(eo.len());
                        for (id, n) in eo {
                            let path = epath.key(id);
                            let product = product_ref(&Value::String(id.clone()), &path)?;
                            out.push((product, count(n, &path, "a count")?));
                        }
                        Some(out)
                    }
                };
                carts.push(CartSpec { ops, expected });
            }
            consumers.push(ConsumerSpec {
                name,
                retry_wait,
                carts,
            });
        }

        // Marketplace.
        let path = top.key("marketplace");
        let mo = object(market_v, &path, "the marketplace settings")?;
        let f = fields(mo, &path, &["queue_size_per_producer"], &[])?;
        let qpath = path.key("queue_size_per_producer");
        let q = count(f[0].unwrap(), &qpath, "a queue size")?;
        if q == 0 {
            return Err(qpath.err("the queue size must be at least 1: no producer could publish"));
        }
        if q > MAX_QUEUE_SIZE {
            return Err(qpath.err(format!(
                "queue size {q} is larger than the supported {MAX_QUEUE_SIZE}"
            )));
        }

        let scenario = Scenario {
            products,
            producers,
            consumers,
            queue_size: q as usize,
        };
        scenario.check_supply()?;
        Ok(scenario)
    }

    /// Every product a consumer adds must be published by some producer (an equal product
    /// counts), or that consumer would wait forever.
    fn check_supply(&self) -> Result<(), ScenarioError> {
        let mut produced = vec![false; self.products.len()];
        for p in &self.producers {
            for s in p.supplies.iter().filter(|s| s.quantity > 0) {
                produced[self.products[s.product].equal_class] = true;
            }
        }
        for (i, c) in self.consumers.iter().enumerate() {
            for (j, cart) in c.carts.iter().enumerate() {
                for (k, op) in cart.ops.iter().enumerate() {
                    if op.kind == OpKind::Add
                        && op.quantity > 0
                        && !produced[self.products[op.product].equal_class]
                    {
                        let base = Path::root().key("consumers").index(i).key("carts").index(j);
                        let ops = if cart.expected.is_some() {
                            base.key("ops")
                        } else {
                            base
                        };
                        return Err(ops.index(k).key("product").err(format!(
                            "product {} is never produced: no producer lists it with a quantity above 0",
                            Value::String(self.products[op.product].id.clone())
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Total number of carts over all consumers.
    pub fn total_carts(&self) -> u64 {
        self.consumers.iter().map(|c| c.carts.len() as u64).sum()
    }

    /// The largest wait anywhere in the scenario, in seconds.
    pub fn max_wait(&self) -> f64 {
        let producer_waits = self
            .producers
            .iter()
            .flat_map(|p| p.supplies.iter().map(|s| s.wait).chain([p.republish_wait]));
        let consumer_waits = self.consumers.iter().map(|c| c.retry_wait);
        producer_waits.chain(consumer_waits).fold(0.0, f64::max)
    }

    /// The output lines the generator's `expected_cart`s promise, unsorted.
    ///
    /// # Errors
    ///
    /// As [`Scenario::expected_units`].
    pub fn expected_lines(&self) -> Result<Vec<String>, ScenarioError> {
        let mut lines = Vec::with_capacity(self.expected_units()? as usize);
        self.for_each_expected(|line, n| {
            for _ in 0..n {
                lines.push(line.to_owned());
            }
        });
        Ok(lines)
    }

    /// Calls `f(line, n)` for each line the `expected_cart`s promise, with its count in its
    /// cart: one line at a time is made, whatever the counts (check them first with
    /// [`Scenario::expected_units`]).
    pub fn for_each_expected(&self, mut f: impl FnMut(&str, u64)) {
        let mut line = String::new();
        for c in &self.consumers {
            for cart in &c.carts {
                for &(product, n) in cart.expected.iter().flatten() {
                    line.clear();
                    line.push_str(&c.name);
                    line.push_str(" bought ");
                    line.push_str(&self.products[product].repr);
                    f(&line, n);
                }
            }
        }
    }

    /// The number of units the generator's `expected_cart`s promise, checked.
    ///
    /// # Errors
    ///
    /// Names the first cart without an `expected_cart`, the first whose expected counts add
    /// up to more units than the cart adds, or the cart where the expected lines pass
    /// [`MAX_EXPECTED_LINES`].
    pub fn expected_units(&self) -> Result<u64, ScenarioError> {
        // Counted before any line is made, so that none is made for an expectation refused.
        let mut total: u64 = 0;
        for (i, c) in self.consumers.iter().enumerate() {
            for (j, cart) in c.carts.iter().enumerate() {
                let path = Path::root().key("consumers").index(i).key("carts").index(j);
                let expected = cart
                    .expected
                    .as_ref()
                    .ok_or_else(|| path.err("this cart has no `expected_cart` to check against"))?;
                let added = cart
                    .ops
                    .iter()
                    .filter(|op| op.kind == OpKind::Add)
                    .fold(0u64, |sum, op| sum.saturating_add(op.quantity));
                let wanted = expected
                    .iter()
                    .fold(0u64, |sum, &(_, n)| sum.saturating_add(n));
                if wanted > added {
                    return Err(path.key("expected_cart").err(format!(
                        "the expected counts add up to {wanted} units, but the cart adds only {added}"
                    )));
                }
                total = total.saturating_add(wanted);
                if total > MAX_EXPECTED_LINES {
                    return Err(path.key("expected_cart").err(format!(
                        "more than {MAX_EXPECTED_LINES} expected units up to this cart, the most that is checked"
                    )));
                }
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_equality_of_numbers() {
        let int = |s: &str| PyNumber::Int(s.to_owned()).eq_key();
        let float = |x: f64| PyNumber::Float(x).eq_key();
        assert_eq!(int("5"), float(5.0));
        assert_eq!(int("0"), float(-0.0));
        assert_eq!(int("-0"), int("0"));
        assert_eq!(int("10000000000000000"), float(1e16));
        assert_ne!(int("10000000000000001"), float(1e16));
        assert_ne!(float(5.05), float(5.0500001));
        assert_ne!(int("5"), float(5.5));
    }

    /// The generator's expected carts of the conformance data, printed with our reprs, are
    /// exactly the reference outputs: this checks the reprs of every product there.
    #[test]
    fn conformance_expected_carts_print_as_the_references() {
        let Some(dir) = ringmarket_cli::conformance_dir() else {
            return;
        };
        for n in 1..=10 {
            let json = std::fs::read_to_string(dir.join(format!("{n:02}.json"))).unwrap();
            let reference = std::fs::read_to_string(dir.join(format!("{n:02}.ref.out"))).unwrap();
            let scenario = Scenario::parse(&json).unwrap();
            let lines = scenario.expected_lines().unwrap();
            assert_eq!(
                check::compare(&lines.join("\n"), &reference, 5),
                None,
                "test {n:02}"
            );
            let input = std::fs::read_to_string(dir.join(format!("{n:02}.in"))).unwrap();
            let plain = Scenario::parse(&input).unwrap();
            assert_eq!(plain.products, scenario.products, "test {n:02}");
            assert_eq!(plain.total_carts(), scenario.total_carts(), "test {n:02}");
        }
    }

    #[test]
    fn paths_quote_odd_keys() {
        let p = Path::root().key("products").key("my id").key("price");
        assert_eq!(p.0, "products[\"my id\"].price");
        let p = Path::root()
            .key("consumers")
            .index(0)
            .key("carts")
            .index(1)
            .index(2);
        assert_eq!(p.0, "consumers[0].carts[1][2]");
    }
}
