//! [`IndexError`]: the one error type of the crate.

/// Every error the index returns. Bad input is rejected before anything changes: a call that returns an error
/// leaves the index exactly as it was. (`vecdb` turns each variant into the [`IndexError`] variant of the same name.)
///
/// [`IndexError`]: https://docs.rs/vecdb
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A vector's length is not the index's dimension.
    #[error("the vector has {found} components; the index's dimension is {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length of the vector given.
        found: usize,
    },
    /// A vector component is NaN or infinite.
    #[error("component {index} of the vector is NaN or infinite")]
    NonFiniteValue {
        /// Position of the first bad component.
        index: usize,
    },
    /// Under the cosine metric a vector must have a non-zero length (it is normalized at insert).
    #[error("the vector is all zeros, which has no direction under the cosine metric")]
    ZeroVectorUnderCosine,
    /// A search asked for zero results.
    #[error("k is zero: a search must ask for at least one result")]
    KIsZero,
    /// No live vector has this id.
    #[error("no live vector has id {id}")]
    UnknownId {
        /// The id asked for.
        id: u64,
    },
    /// A live vector already has this id (to replace it, mark the old one deleted first).
    #[error("a live vector already has id {id}")]
    DuplicateId {
        /// The id given.
        id: u64,
    },
    /// A value is over one of the crate's `*_MAX` limits.
    #[error("{what} is {value}; the limit is {limit}")]
    LimitExceeded {
        /// The name of the limit's constant, e.g. `"K_MAX"`.
        what: &'static str,
        /// The value given.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A configuration field is invalid for a reason other than a `*_MAX` limit.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// Encoded bytes are truncated, corrupted or of an unknown version.
    #[error("corrupt encoding at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the input where decoding found the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}
