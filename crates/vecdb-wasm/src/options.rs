//! What JavaScript passes in, checked: ids, counts, metric and encoding names, and the options of `VecDb.open`.
//! Pure functions over plain Rust values, so they are tested natively; the bindings read the JavaScript values
//! into these types first.

use vecdb::{DbConfig, HnswConfig, Metric, QuantizationRange, VecDbError, VectorEncoding};

use crate::error::WasmError;

/// The largest id: ids are JavaScript numbers, and every integer up to `2^53 - 1` (`Number.MAX_SAFE_INTEGER`) is
/// exact in one. Larger numbers, fractions, negatives, NaN and infinities are refused with
/// [`WasmError::InvalidId`], so an id read back is always the number that was written.
pub const ID_MAX: u64 = (1 << 53) - 1;

/// The largest count (`k`, `ef`, `m`, ...) read from a number; larger ones are refused before the database's own
/// limits (all far below it) are checked.
pub const COUNT_MAX: u64 = u32::MAX as u64;

/// The metric names `VecDb.open` accepts, as in [`metric_from_name`].
pub const METRIC_NAMES: [&str; 3] = ["cosine", "l2", "dot"];

/// The encoding names `VecDb.open` accepts, as in [`encoding_from_name`].
pub const ENCODING_NAMES: [&str; 2] = ["f32", "sq8"];

/// An id from a JavaScript number: an integer in `0..=ID_MAX`.
///
/// # Errors
/// [`WasmError::InvalidId`] naming what is wrong.
pub fn id_from_number(value: f64) -> Result<u64, WasmError> {
    let reason = if value.is_nan() {
        "NaN is not an id"
    } else if value.is_infinite() {
        "an infinite number is not an id"
    } else if value.fract() != 0.0 {
        "ids are integers"
    } else if value < 0.0 {
        "ids are not negative"
    } else if value > ID_MAX as f64 {
        "ids are at most Number.MAX_SAFE_INTEGER (2^53 - 1)"
    } else {
        // An integer in 0..=2^53-1: the cast is exact.
        return Ok(value as u64);
    };
    // The reason only: formatting the f64 itself would pull Rust's float printing (about 20 KB) into the module.
    Err(WasmError::InvalidId { reason: reason.to_owned() })
}

/// The JavaScript number for an id. Ids come in through [`id_from_number`], so they are at most [`ID_MAX`] and
/// exact as numbers.
pub fn id_to_number(id: u64) -> f64 {
    // At most ID_MAX = 2^53 - 1: exact in an f64.
    id.min(ID_MAX) as f64
}

/// A count (`k`, `ef`, `dimension`, `m`, ...) from a JavaScript number: an integer in `0..=COUNT_MAX`. Zero and
/// values over the database's limits pass through, so that the database answers them with its own typed errors
/// (`KIsZero`, `LimitExceeded`, `InvalidConfig`).
///
/// # Errors
/// [`WasmError::InvalidArgument`] for NaN, infinities, fractions, negatives and numbers over [`COUNT_MAX`].
pub fn count_from_number(what: &'static str, value: f64) -> Result<usize, WasmError> {
    if !(value.is_finite() && value.fract() == 0.0 && (0.0..=COUNT_MAX as f64).contains(&value)) {
        return Err(WasmError::argument(what, format!("is not an integer in 0..={COUNT_MAX}")));
    }
    // An integer in 0..=u32::MAX: the cast is exact.
    let count = value as u32;
    usize::try_from(count).map_err(|_| WasmError::argument(what, "does not fit this platform's usize"))
}

/// `"cosine"`, `"l2"` (squared Euclidean) or `"dot"` (negated inner product).
///
/// # Errors
/// [`WasmError::InvalidArgument`] for any other name.
pub fn metric_from_name(name: &str) -> Result<Metric, WasmError> {
    match name {
        "cosine" => Ok(Metric::Cosine),
        "l2" => Ok(Metric::L2),
        "dot" => Ok(Metric::DotProduct),
        other => Err(WasmError::argument("metric", format!("{other:?} is not one of {METRIC_NAMES:?}"))),
    }
}

/// The name [`metric_from_name`] reads back as `metric`.
pub fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::L2 => "l2",
        Metric::DotProduct => "dot",
        // Metric is non-exhaustive; every metric the database has today is named above.
        _ => "cosine",
    }
}

/// `"f32"` (full precision) or `"sq8"` (8-bit scalar quantization with ranges trained on the data, re-ranked in
/// `f32`).
///
/// # Errors
/// [`WasmError::InvalidArgument`] for any other name.
pub fn encoding_from_name(name: &str) -> Result<VectorEncoding, WasmError> {
    match name {
        "f32" => Ok(VectorEncoding::F32),
        "sq8" => Ok(VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained }),
        other => Err(WasmError::argument("encoding", format!("{other:?} is not one of {ENCODING_NAMES:?}"))),
    }
}

/// The name of an encoding (`"sq8"` for every 8-bit one).
pub fn encoding_name(encoding: VectorEncoding) -> &'static str {
    match encoding {
        VectorEncoding::F32 => "f32",
        _ => "sq8",
    }
}

/// The options object of `VecDb.open(name, options)` and `new VecIndex(options)`, as read from JavaScript.
/// `None` is a missing (or `undefined`) field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenOptions {
    /// `dimension`: required.
    pub dimension: Option<f64>,
    /// `metric`: `"cosine"` (default), `"l2"` or `"dot"`.
    pub metric: Option<String>,
    /// `m`: links per node (default 16).
    pub m: Option<f64>,
    /// `efConstruction`: search breadth while inserting (default 200).
    pub ef_construction: Option<f64>,
    /// `efSearch`: default search breadth (default 64).
    pub ef_search: Option<f64>,
    /// `encoding`: `"f32"` (default) or `"sq8"`.
    pub encoding: Option<String>,
}

impl OpenOptions {
    /// The index configuration these options describe, with [`HnswConfig::new`]'s defaults for missing fields.
    ///
    /// # Errors
    /// [`WasmError::InvalidArgument`] (no dimension, a bad name or number) and the index's own checks
    /// ([`vecdb::VecDbError::LimitExceeded`], [`vecdb::VecDbError::InvalidConfig`]).
    pub fn index_config(&self) -> Result<HnswConfig, WasmError> {
        let dimension = self.dimension.ok_or_else(|| WasmError::argument("dimension", "is required"))?;
        let metric = self.metric.as_deref().map_or(Ok(Metric::Cosine), metric_from_name)?;
        let mut config = HnswConfig::new(count_from_number("dimension", dimension)?, metric);
        if let Some(m) = self.m {
            config.m = count_from_number("m", m)?;
        }
        if let Some(ef_construction) = self.ef_construction {
            config.ef_construction = count_from_number("efConstruction", ef_construction)?;
        }
        if let Some(ef_search) = self.ef_search {
            config.ef_search = count_from_number("efSearch", ef_search)?;
        }
        if let Some(encoding) = &self.encoding {
            config.encoding = encoding_from_name(encoding)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the fields these options give against the configuration a database was created with (fields left
    /// out take the stored values).
    ///
    /// # Errors
    /// [`vecdb::VecDbError::ConfigMismatch`] naming the first field that differs (as `DbConfig` names it, e.g.
    /// `"index.m"`), and the errors of reading the options ([`WasmError::InvalidArgument`]).
    pub fn check_against(&self, stored: &HnswConfig) -> Result<(), WasmError> {
        let mismatch = |field: &'static str, stored: String, requested: String| {
            Err(WasmError::from(VecDbError::ConfigMismatch { field, stored, requested }))
        };
        let counts = [
            ("index.dimension", "dimension", self.dimension, stored.dimension),
            ("index.m", "m", self.m, stored.m),
            ("index.ef_construction", "efConstruction", self.ef_construction, stored.ef_construction),
            ("index.ef_search", "efSearch", self.ef_search, stored.ef_search),
        ];
        for (field, what, requested, stored) in counts {
            if let Some(requested) = requested {
                let requested = count_from_number(what, requested)?;
                if requested != stored {
                    return mismatch(field, stored.to_string(), requested.to_string());
                }
            }
        }
        if let Some(metric) = &self.metric {
            if metric_from_name(metric)? != stored.metric {
                return mismatch("index.metric", metric_name(stored.metric).to_owned(), metric.clone());
            }
        }
        if let Some(encoding) = &self.encoding {
            if encoding_name(encoding_from_name(encoding)?) != encoding_name(stored.encoding) {
                return mismatch("index.encoding", encoding_name(stored.encoding).to_owned(), encoding.clone());
            }
        }
        Ok(())
    }

    /// The database configuration: [`Self::index_config`] with the default durability (every write durable when
    /// its promise resolves).
    ///
    /// # Errors
    /// As [`Self::index_config`].
    pub fn database_config(&self) -> Result<DbConfig, WasmError> {
        let index = self.index_config()?;
        let mut config = DbConfig::new(index.dimension, index.metric);
        config.index = index;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_non_negative_integers() {
        assert_eq!(id_from_number(0.0).unwrap(), 0);
        assert_eq!(id_from_number(42.0).unwrap(), 42);
        assert_eq!(id_from_number(ID_MAX as f64).unwrap(), ID_MAX);
        assert_eq!(id_to_number(ID_MAX), 9_007_199_254_740_991.0);
        for bad in [-1.0, 0.5, f64::NAN, f64::INFINITY, -f64::INFINITY, ID_MAX as f64 + 1.0, 1e300] {
            assert!(matches!(id_from_number(bad), Err(WasmError::InvalidId { .. })), "{bad}");
        }
        // -0 is the number zero.
        assert_eq!(id_from_number(-0.0).unwrap(), 0);
    }

    #[test]
    fn counts_are_integers_up_to_the_limit() {
        assert_eq!(count_from_number("k", 0.0).unwrap(), 0);
        assert_eq!(count_from_number("k", 10.0).unwrap(), 10);
        assert_eq!(count_from_number("k", COUNT_MAX as f64).unwrap() as u64, COUNT_MAX);
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, COUNT_MAX as f64 + 1.0] {
            assert!(matches!(count_from_number("k", bad), Err(WasmError::InvalidArgument { what: "k", .. })));
        }
    }

    #[test]
    fn metric_and_encoding_names_round_trip() {
        for name in METRIC_NAMES {
            assert_eq!(metric_name(metric_from_name(name).unwrap()), name);
        }
        for name in ENCODING_NAMES {
            assert_eq!(encoding_name(encoding_from_name(name).unwrap()), name);
        }
        assert!(matches!(metric_from_name("Cosine"), Err(WasmError::InvalidArgument { what: "metric", .. })));
        assert!(matches!(encoding_from_name("f16"), Err(WasmError::InvalidArgument { what: "encoding", .. })));
    }

    #[test]
    fn open_options_default_to_hnswlibs_parameters() {
        let options = OpenOptions { dimension: Some(50.0), ..OpenOptions::default() };
        let config = options.database_config().unwrap();
        assert_eq!(config, DbConfig::new(50, Metric::Cosine));
        assert_eq!((config.index.m, config.index.ef_construction, config.index.ef_search), (16, 200, 64));
    }

    #[test]
    fn open_options_set_every_field() {
        let options = OpenOptions {
            dimension: Some(8.0),
            metric: Some("dot".into()),
            m: Some(8.0),
            ef_construction: Some(100.0),
            ef_search: Some(32.0),
            encoding: Some("sq8".into()),
        };
        let config = options.index_config().unwrap();
        assert_eq!((config.dimension, config.metric, config.m), (8, Metric::DotProduct, 8));
        assert_eq!((config.ef_construction, config.ef_search), (100, 32));
        assert_eq!(encoding_name(config.encoding), "sq8");
    }

    #[test]
    fn bad_open_options_are_typed_errors() {
        let missing = OpenOptions::default();
        assert!(matches!(missing.index_config(), Err(WasmError::InvalidArgument { what: "dimension", .. })));
        let zero = OpenOptions { dimension: Some(0.0), ..OpenOptions::default() };
        assert!(matches!(zero.index_config(), Err(WasmError::VecDb(VecDbError::InvalidConfig { .. }))));
        let huge = OpenOptions { dimension: Some(1e6), ..OpenOptions::default() };
        assert!(matches!(huge.index_config(), Err(WasmError::VecDb(VecDbError::LimitExceeded { .. }))));
        let fraction = OpenOptions { dimension: Some(3.0), m: Some(2.5), ..OpenOptions::default() };
        assert!(matches!(fraction.index_config(), Err(WasmError::InvalidArgument { what: "m", .. })));
    }

    #[test]
    fn options_given_for_an_existing_database_must_match_it_and_missing_ones_take_its_values() {
        let mut stored = HnswConfig::new(8, Metric::L2);
        stored.m = 8;
        let only_dimension = OpenOptions { dimension: Some(8.0), ..OpenOptions::default() };
        assert!(only_dimension.check_against(&stored).is_ok(), "m left out: the stored 8, not the default 16");
        let same = OpenOptions {
            metric: Some("l2".into()),
            m: Some(8.0),
            encoding: Some("f32".into()),
            ..only_dimension.clone()
        };
        assert!(same.check_against(&stored).is_ok());
        let cases: [(OpenOptions, &str, &str, &str); 4] = [
            (OpenOptions { dimension: Some(9.0), ..OpenOptions::default() }, "index.dimension", "8", "9"),
            (OpenOptions { m: Some(16.0), ..OpenOptions::default() }, "index.m", "8", "16"),
            (OpenOptions { metric: Some("cosine".into()), ..OpenOptions::default() }, "index.metric", "l2", "cosine"),
            (OpenOptions { encoding: Some("sq8".into()), ..OpenOptions::default() }, "index.encoding", "f32", "sq8"),
        ];
        for (options, expected_field, expected_stored, expected_requested) in cases {
            match options.check_against(&stored) {
                Err(WasmError::VecDb(VecDbError::ConfigMismatch { field, stored, requested })) => {
                    assert_eq!(
                        (field, stored.as_str(), requested.as_str()),
                        (expected_field, expected_stored, expected_requested)
                    );
                }
                other => panic!("{expected_field}: {other:?}"),
            }
        }
        let bad = OpenOptions { metric: Some("euclid".into()), ..OpenOptions::default() };
        assert!(matches!(bad.check_against(&stored), Err(WasmError::InvalidArgument { what: "metric", .. })));
    }
}
