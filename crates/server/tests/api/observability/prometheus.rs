//! A reader of the Prometheus text format (version 0.0.4) as strict as a scraper's: it panics,
//! naming the line, on anything Prometheus would refuse, and checks what the format promises
//! beyond syntax (one TYPE per family, before its samples; no sample twice; histogram buckets
//! cumulative and ending at `+Inf` with the `_count`).

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A whole scrape, checked.
#[derive(Debug, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
    /// Family name to its type.
    pub types: HashMap<String, String>,
}

impl Scrape {
    /// The value of the sample with exactly these labels; 0 when there is none (a counter not
    /// yet touched is absent).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map_or(0.0, |s| s.value)
    }

    /// The sum of the samples of `name` whose labels include these.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The labels of `{...}` at the start of `rest`, and what follows the closing brace.
fn parse_labels(rest: &str, line: usize) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut s = rest
        .strip_prefix('{')
        .unwrap_or_else(|| panic!("line {line}: no label set"));
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return (labels, after);
        }
        let eq = s
            .find('=')
            .unwrap_or_else(|| panic!("line {line}: a label without `=`"));
        let name = &s[..eq];
        assert!(is_label_name(name), "line {line}: label name {name:?}");
        s = s[eq + 1..]
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("line {line}: label value not quoted"));
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("line {line}: bad escape {other:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("line {line}: unterminated label value"),
            }
        };
        s = &s[end + 1..];
        assert!(
            labels.insert(name.to_owned(), value).is_none(),
            "line {line}: label {name} twice"
        );
        if let Some(after) = s.strip_prefix(',') {
            s = after;
        } else {
            assert!(s.starts_with('}'), "line {line}: {s:?} after a label value");
        }
    }
}

/// The family a sample belongs to: its own name, or a histogram's or summary's without the
/// suffix.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        matches!(
            types.get(base).map(String::as_str),
            Some("histogram" | "summary")
        )
        .then_some(base)
    })
}

/// Parses and checks a scrape; panics on the first fault.
pub fn parse(text: &str) -> Scrape {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the last line ends with a line feed"
    );
    let mut scrape = Scrape::default();
    let mut seen_samples_of: HashMap<String, ()> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(comment) = raw.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(is_metric_name(name), "line {line}: name {name:?}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "line {line}: type {kind:?}"
                    );
                    assert!(
                        !seen_samples_of.contains_key(name),
                        "line {line}: TYPE of {name} after its samples"
                    );
                    assert!(
                        scrape
                            .types
                            .insert(name.to_owned(), kind.to_owned())
                            .is_none(),
                        "line {line}: a second TYPE for {name}"
                    );
                }
                (Some("HELP"), Some(name), _) => {
                    assert!(is_metric_name(name), "line {line}: name {name:?}");
                }
                _ => {}
            }
            continue;
        }
        let name_end = raw.find(['{', ' ']).unwrap_or(raw.len());
        let name = &raw[..name_end];
        assert!(is_metric_name(name), "line {line}: sample name {name:?}");
        let (labels, rest) = if raw[name_end..].starts_with('{') {
            parse_labels(&raw[name_end..], line)
        } else {
            (BTreeMap::new(), &raw[name_end..])
        };
        let mut fields = rest.split(' ').filter(|f| !f.is_empty());
        let value = fields
            .next()
            .and_then(parse_value)
            .unwrap_or_else(|| panic!("line {line}: no value in {raw:?}"));
        if let Some(timestamp) = fields.next() {
            assert!(
                timestamp.parse::<i64>().is_ok(),
                "line {line}: timestamp {timestamp:?}"
            );
        }
        assert!(fields.next().is_none(), "line {line}: trailing text");
        let family = family_of(name, &scrape.types)
            .unwrap_or_else(|| panic!("line {line}: {name} has no TYPE before it"));
        seen_samples_of.insert(family.to_owned(), ());
        let sample = Sample {
            name: name.to_owned(),
            labels,
            value,
        };
        assert!(
            !scrape
                .samples
                .iter()
                .any(|s| s.name == sample.name && s.labels == sample.labels),
            "line {line}: the same sample twice"
        );
        scrape.samples.push(sample);
    }
    check_histograms(&scrape);
    scrape
}

/// Each histogram series: buckets in rising `le` order, cumulative, the last `+Inf` and equal
/// to `_count`.
fn check_histograms(scrape: &Scrape) {
    for (family, _) in scrape.types.iter().filter(|(_, t)| *t == "histogram") {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for sample in scrape
            .samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = sample
                .labels
                .get("le")
                .and_then(|le| parse_value(le))
                .unwrap_or_else(|| panic!("{family}: a bucket without `le`"));
            let mut others = sample.labels.clone();
            others.remove("le");
            series
                .entry(format!("{others:?}"))
                .or_default()
                .push((le, sample.value));
        }
        for (labels, buckets) in series {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family}{labels}: buckets not rising and cumulative: {buckets:?}"
            );
            let (last_le, last) = *buckets.last().expect("a bucket");
            assert_eq!(last_le, f64::INFINITY, "{family}{labels}: no +Inf bucket");
            let count = scrape
                .samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels
                })
                .unwrap_or_else(|| panic!("{family}{labels}: no _count"));
            assert_eq!(count.value, last, "{family}{labels}: +Inf bucket != _count");
        }
    }
}

#[test]
fn the_reader_refuses_what_a_scraper_refuses() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"2\",y=\"b\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    let scrape = parse(good);
    assert_eq!(scrape.value("a_total", &[("x", "1\"2"), ("y", "b")]), 3.0);
    assert_eq!(scrape.value("h_count", &[]), 2.0);
    for bad in [
        "a_total 1\n",                                              // no TYPE
        "# TYPE a counter\na{x=1} 1\n",                             // unquoted value
        "# TYPE a counter\na 1 2 3\n",                              // trailing text
        "# TYPE a counter\na one\n",                                // not a number
        "# TYPE a counter\na 1\na 2\n",                             // twice
        "# TYPE a counter\n# TYPE a gauge\n",                       // two types
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n", // +Inf != count
        "# TYPE 1a counter\n",                                      // bad name
    ] {
        let refused = std::panic::catch_unwind(|| parse(bad)).is_err();
        assert!(refused, "{bad:?} was taken");
    }
}
