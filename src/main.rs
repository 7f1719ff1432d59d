//! The `coalmine` command. See `coalmine --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    coalmine::cli::main()
}
