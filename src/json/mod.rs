//! JSON at the bottom of the house, below the query language and the envelope: the
//! hand-written writer the hottest bodies are written with, and the one reader every
//! request body's fields are taken with.

pub mod fields;
pub mod out;

pub use fields::Fields;
pub use out::JsonOut;
