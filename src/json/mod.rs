//! JSON at the bottom of the house, below the query language and the envelope: the
//! hand-written writer the hottest bodies are written with.

pub mod out;

pub use out::JsonOut;
