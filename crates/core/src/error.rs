//! The library's errors, typed by what went wrong, with the messages users read.
//!
//! Every variant but [`Error::Cancelled`] carries the cause as a boxed error whose `Display` is
//! the message and whose `source()` chain is the rest of it, so a front end printing the chain
//! (`anyhow`'s `{:#}`) shows exactly `context: cause: …`.

use std::fmt::Display;

/// `s` made safe for a terminal line: control characters (escape sequences, newlines) shown
/// escaped, at most `max` characters kept and a cut marked with `…`. User text goes through it
/// before it reaches a message.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Any error, boxed (a message, an I/O error, a codec's error).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by who can fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input (video, picture, depth, focus track, preset) is missing or unreadable.
    #[error(transparent)]
    Input(BoxError),
    /// An output cannot be written.
    #[error(transparent)]
    Output(BoxError),
    /// A model is missing, malformed or failed to run.
    #[error(transparent)]
    Model(BoxError),
    /// An option or a combination of options is out of range.
    #[error(transparent)]
    Options(BoxError),
    /// A device (GPU, camera, runtime library) is unavailable.
    #[error(transparent)]
    Device(BoxError),
    /// The run was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// The kind of an [`Error`], for building one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Input,
    Output,
    Model,
    Options,
    Device,
    Cancelled,
}

/// A message put before a cause (what `anyhow::Context` does, typed).
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct Context {
    msg: String,
    #[source]
    source: BoxError,
}

impl Error {
    /// An error of `kind` from a message or any other error.
    pub fn new(kind: Kind, e: impl Into<BoxError>) -> Self {
        let e = e.into();
        match kind {
            Kind::Input => Self::Input(e),
            Kind::Output => Self::Output(e),
            Kind::Model => Self::Model(e),
            Kind::Options => Self::Options(e),
            Kind::Device => Self::Device(e),
            Kind::Cancelled => Self::Cancelled,
        }
    }

    pub fn msg(kind: Kind, msg: impl Display) -> Self {
        Self::new(kind, msg.to_string())
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Input(_) => Kind::Input,
            Self::Output(_) => Kind::Output,
            Self::Model(_) => Kind::Model,
            Self::Options(_) => Kind::Options,
            Self::Device(_) => Kind::Device,
            Self::Cancelled => Kind::Cancelled,
        }
    }

    /// The same error, of the same kind, with `msg` before it.
    pub fn context(self, msg: impl Display) -> Self {
        let kind = self.kind();
        Self::new(kind, Context { msg: msg.to_string(), source: Box::new(self) })
    }
}

/// Give a foreign error (or a missing value) a kind and, optionally, a message before it.
pub trait ErrorKind<T> {
    /// Tag the error with `kind`.
    fn or_kind(self, kind: Kind) -> Result<T>;
    /// Put `msg` before the error, tagged with `kind`.
    fn kind_context(self, kind: Kind, msg: impl Display) -> Result<T>;
    fn with_kind_context<M: Display>(self, kind: Kind, f: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E: Into<BoxError>> ErrorKind<T> for std::result::Result<T, E> {
    fn or_kind(self, kind: Kind) -> Result<T> {
        self.map_err(|e| Error::new(kind, e))
    }
    fn kind_context(self, kind: Kind, msg: impl Display) -> Result<T> {
        self.map_err(|e| Error::new(kind, Context { msg: msg.to_string(), source: e.into() }))
    }
    fn with_kind_context<M: Display>(self, kind: Kind, f: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| Error::new(kind, Context { msg: f().to_string(), source: e.into() }))
    }
}

impl<T> ErrorKind<T> for Option<T> {
    fn or_kind(self, kind: Kind) -> Result<T> {
        self.ok_or_else(|| Error::msg(kind, "missing value"))
    }
    fn kind_context(self, kind: Kind, msg: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(kind, msg))
    }
    fn with_kind_context<M: Display>(self, kind: Kind, f: impl FnOnce() -> M) -> Result<T> {
        self.ok_or_else(|| Error::msg(kind, f()))
    }
}

/// Put a message before an [`Error`], keeping its kind.
pub trait ResultExt<T> {
    fn context(self, msg: impl Display) -> Result<T>;
    fn with_context<M: Display>(self, f: impl FnOnce() -> M) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, msg: impl Display) -> Result<T> {
        self.map_err(|e| e.context(msg))
    }
    fn with_context<M: Display>(self, f: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

/// `return Err(Error::msg(Kind::$kind, format!(…)).into())`.
#[macro_export]
macro_rules! fail {
    ($kind:ident, $($arg:tt)*) => {
        return Err($crate::Error::msg($crate::Kind::$kind, format!($($arg)*)).into())
    };
}

/// `Error::msg(Kind::$kind, format!(…))`.
#[macro_export]
macro_rules! err {
    ($kind:ident, $($arg:tt)*) => {
        $crate::Error::msg($crate::Kind::$kind, format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s += &format!(": {c}");
            cur = c.source();
        }
        s
    }

    #[test]
    fn context_chain_reads_like_anyhow() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e: Result<()> = Err(io).kind_context(Kind::Input, "cannot read x");
        let e = e.context("outer").unwrap_err();
        assert_eq!(e.kind(), Kind::Input);
        assert_eq!(chain(&e), "outer: cannot read x: gone");
    }

    #[test]
    fn printable_escapes_control_characters_and_cuts() {
        assert_eq!(printable("a\u{1b}[31mb\nc", 100), "a\\u{1b}[31mb\\nc");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(printable("it's \"fine\"", 100), "it's \"fine\"");
    }
}
