//! The library half of the `ringmarket` command-line program: the parts that tests, examples
//! and fuzz targets use directly.

pub mod inventory;
