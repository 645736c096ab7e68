//! Integration tests: real SQLite files in temp directories, real servers on 127.0.0.1.

mod auth;
mod backups;
mod bad_files;
mod cluster;
mod common;
mod domain;
mod etapi;
mod fixture;
mod new_document;
mod protected_core;
mod protected_trilium;
mod scripted;
mod sector_cache;
mod setup;
mod sync;
mod transcript;
mod ui_attributes;
mod ui_live;
mod ui_history;
mod ui_syncui;
mod ui_note;
mod ui_protected;
mod ui_search;
mod ui_setup;
mod ui_tree;
mod web;
