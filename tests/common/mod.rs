//! What several of the library's integration tests share (`mod common;`).

mod keyed;

pub use keyed::Keyed;
