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
mod scripted;
mod sector_cache;
mod setup;
mod stop_and_reconnect;
mod sync;
mod sync_engine;
mod transcript;
mod trilium_hub_live;
mod ui_attributes;
mod ui_live;
mod ui_history;
mod ui_syncui;
mod ui_note;
mod ui_search;
mod ui_setup;
mod ui_tree;
mod web;
