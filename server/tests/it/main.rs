//! Integration tests of the document store on real SQLite files in temp directories.

mod backups;
mod bad_files;
mod common;
mod fixture;
mod new_document;
mod scripted;
