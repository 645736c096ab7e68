//! The torture's mixed cluster: a Canopy hub and a Canopy client as real `canopy` processes with
//! their own data directories, and beside them a client that speaks to the hub exactly as Trilium
//! 0.63 does ([`TriliumPeer`]: a fresh login every cycle, pushes batch by batch without `canopy*`
//! fields, pulls page by page, its own hash check with Trilium's skips and sector requeues). Seeded
//! random operations on all three (create, retitle, write, delete a note or a branch, clone, move,
//! labels, relations): through ETAPI on the Canopy instances, through the domain layer on the peer's
//! own document (the rows Trilium's services write). Between them: sync cycles of both clients,
//! `kill -9` of the hub (idle, or a moment into the peer's or the client's cycle) and of the client,
//! and the peer crashing after a push the hub took but before its cursor moved, or during a pull
//! (the page applied, or lost). After settling, the three must hold the same rows, have equal
//! hashes, pass the deep check, have a whole tree and lose no text; and no hash check of the peer may
//! have failed along the way (nothing runs concurrently here, so any difference is a bug). Needless
//! conflict revisions are reported, and fail the run only without kills (see the end of the test).
//!
//! `CANOPY_TORTURE_SEED`, `CANOPY_TORTURE_OPS` and `CANOPY_TORTURE_KILL_EVERY` choose the run, as for
//! the torture (`make torture MIXED=1 SEED=… OPS=…`); the default is the small run of `make test`.
#![cfg(unix)]

use std::time::{Duration, Instant};

use canopy::domain::attributes::{self, AttributeKind};
use canopy::domain::branches::{self, MoveTo};
use canopy::domain::notes::{self, CreateNote, Position};
use canopy::domain::{DomainError, DomainResult};
use canopy::entities::{Attribute, BlobContent};
use reqwest::Method;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::stop_and_reconnect::{free_port, hub_and_client_dirs_syncing_to};
use crate::torture::{
    env_number, examine, note_rows, open_db, strings, sync_now, test_branches, test_notes, Failures, Instance, Link,
    Member, Record, Rng,
};
use crate::trilium_peer::TriliumPeer;

const DEFAULT_SEED: u64 = 3;
const DEFAULT_OPS: usize = 200;
const DEFAULT_KILL_EVERY: usize = 20;
const MAX_SETTLE_ROUNDS: usize = 12;

const HUB: usize = 0;
const CLIENT: usize = 1;
const PEER: usize = 2;
const NAMES: [&str; 3] = ["hub", "client", "trilium"];

struct Mixed {
    hub: Instance,
    client: Instance,
    /// The client's way to the hub, open only for its cycles (so that a seed replays its operations).
    link: Link,
    peer: TriliumPeer,
    http: reqwest::Client,
    /// The data directories (kept when the run fails).
    root: tempfile::TempDir,
}

/// One change an operation makes, the same on any member.
#[derive(Debug)]
enum Change {
    Create { note_id: String, parent: String, title: String, content: String },
    Retitle { note_id: String, title: String },
    Write { note_id: String, content: String },
    DeleteNote { note_id: String },
    DeleteBranch { branch_id: String },
    Clone { note_id: String, parent: String },
    Move { branch_id: String, note_id: String, parent: String },
    Label { attribute_id: String, note_id: String, value: String },
    Relate { attribute_id: String, from: String, to: String },
    RemoveAttribute { attribute_id: String },
}

enum Outcome {
    Done,
    /// A 4xx, or the domain's refusal (a note deleted meanwhile, a cycle in the tree…).
    Refused(String),
    /// A 5xx, no answer, or a store error.
    Failed(String),
}

#[derive(Default, Debug)]
struct Tally {
    etapi_calls: usize,
    peer_writes: usize,
    refused: usize,
    server_errors: Vec<String>,
    client_syncs: usize,
    peer_cycles: usize,
    peer_checks_skipped: usize,
    sync_errors: Vec<String>,
    /// Sectors a hash check of the peer found differing.
    peer_check_failures: Vec<String>,
    /// Blob sectors a check of the peer found differing while the hub kept unused blobs for an open
    /// push of the client (killed half-way; the hub lets it go after 30 s of silence).
    peer_checks_during_open_push: Vec<String>,
    kills: usize,
    /// Cycles a kill or a crash cut short (expected to fail, not counted as errors).
    cut: usize,
    peer_crashes: usize,
}

impl Mixed {
    async fn start() -> Mixed {
        let root = tempfile::tempdir().unwrap();
        let hub_port = free_port();
        let link = Link::to(([127, 0, 0, 1], hub_port).into()).await;
        let (hub_dir, client_dir, _) = hub_and_client_dirs_syncing_to(root.path(), [&link.url, &link.url]);
        let hub = Instance::start(hub_dir.clone(), hub_port).await;
        let client = Instance::start(client_dir, free_port()).await;
        let peer = TriliumPeer::from_copy(&hub_dir.join("document.db"), &hub.url(), &root.path().join("trilium"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Mixed { hub, client, link, peer, http, root }
    }

    fn db(&self, on: usize) -> Connection {
        match on {
            HUB => self.hub.db(),
            CLIENT => self.client.db(),
            _ => open_db(self.peer.path().parent().unwrap()),
        }
    }

    async fn etapi(&self, on: usize, method: Method, path: &str, body: Option<Value>) -> Outcome {
        let instance = if on == HUB { &self.hub } else { &self.client };
        let answer = instance.etapi(&self.http, method, path, body).await;
        match answer.status {
            200..=299 => Outcome::Done,
            400..=499 => Outcome::Refused(format!("{} {}", answer.status, answer.body)),
            _ => Outcome::Failed(format!("{} {}", answer.status, answer.body)),
        }
    }

    async fn through_etapi(&self, on: usize, change: &Change) -> Outcome {
        match change {
            Change::Create { note_id, parent, title, content } => {
                let body = json!({ "noteId": note_id, "parentNoteId": parent, "title": title, "type": "text", "content": content });
                self.etapi(on, Method::POST, "/create-note", Some(body)).await
            }
            Change::Retitle { note_id, title } => self.etapi(on, Method::PATCH, &format!("/notes/{note_id}"), Some(json!({ "title": title }))).await,
            Change::Write { note_id, content } => {
                self.etapi(on, Method::PUT, &format!("/notes/{note_id}/content"), Some(Value::String(content.clone()))).await
            }
            Change::DeleteNote { note_id } => self.etapi(on, Method::DELETE, &format!("/notes/{note_id}"), None).await,
            Change::DeleteBranch { branch_id } => self.etapi(on, Method::DELETE, &format!("/branches/{branch_id}"), None).await,
            Change::Clone { note_id, parent } => {
                self.etapi(on, Method::POST, "/branches", Some(json!({ "noteId": note_id, "parentNoteId": parent }))).await
            }
            // ETAPI has no move: a clone under the new parent, then the old branch deleted.
            Change::Move { branch_id, note_id, parent } => {
                match self.etapi(on, Method::POST, "/branches", Some(json!({ "noteId": note_id, "parentNoteId": parent }))).await {
                    Outcome::Done => self.etapi(on, Method::DELETE, &format!("/branches/{branch_id}"), None).await,
                    other => other,
                }
            }
            Change::Label { attribute_id, note_id, value } => {
                let body = json!({ "attributeId": attribute_id, "noteId": note_id, "type": "label", "name": "torture", "value": value });
                self.etapi(on, Method::POST, "/attributes", Some(body)).await
            }
            Change::Relate { attribute_id, from, to } => {
                let body = json!({ "attributeId": attribute_id, "noteId": from, "type": "relation", "name": "tortureLink", "value": to });
                self.etapi(on, Method::POST, "/attributes", Some(body)).await
            }
            Change::RemoveAttribute { attribute_id } => {
                self.etapi(on, Method::DELETE, &format!("/attributes/{attribute_id}"), None).await
            }
        }
    }

    /// The change written into the peer's document as Trilium's own services write it.
    fn on_the_peer(&self, change: &Change) -> Outcome {
        let written = self.peer.doc.write_with(&self.peer.source(), |tx| -> DomainResult<()> {
            match change {
                Change::Create { note_id, parent, title, content } => {
                    let new = CreateNote {
                        parent_note_id: parent.clone(),
                        title: title.clone(),
                        note_type: "text".into(),
                        mime: None,
                        content: BlobContent::Text(content.clone()),
                        position: Position::Last,
                        prefix: None,
                        note_id: Some(note_id.clone()),
                    };
                    notes::create_note(tx, new, None).map(drop)
                }
                Change::Retitle { note_id, title } => notes::rename(tx, note_id, title, None).map(drop),
                Change::Write { note_id, content } => notes::set_content(tx, note_id, BlobContent::Text(content.clone()), None).map(drop),
                Change::DeleteNote { note_id } => notes::delete_note(tx, note_id, None).map(drop),
                Change::DeleteBranch { branch_id } => branches::delete_branch(tx, branch_id).map(drop),
                Change::Clone { note_id, parent } => branches::clone_note(tx, note_id, parent, None).map(drop),
                Change::Move { branch_id, parent, .. } => {
                    branches::move_branch(tx, branch_id, MoveTo::Into { parent_note_id: parent.clone() }).map(drop)
                }
                Change::Label { attribute_id, note_id, value } => {
                    notes::live_note(tx.conn(), note_id)?;
                    attributes::save(tx, attribute(attribute_id, note_id, AttributeKind::Label, "torture", value), None).map(drop)
                }
                Change::Relate { attribute_id, from, to } => {
                    notes::live_note(tx.conn(), from)?;
                    notes::live_note(tx.conn(), to)?;
                    attributes::save(tx, attribute(attribute_id, from, AttributeKind::Relation, "tortureLink", to), None).map(drop)
                }
                Change::RemoveAttribute { attribute_id } => attributes::delete(tx, attribute_id),
            }
        });
        match written {
            Ok(()) => Outcome::Done,
            Err(e @ (DomainError::NotFound { .. } | DomainError::Invalid(_) | DomainError::NotAllowed(_))) => Outcome::Refused(e.to_string()),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn client_status(&self) -> canopy::sync::SyncStatus {
        self.client.sync_status(&self.http).await
    }

    /// One cycle of the Canopy client, its link open for it.
    async fn client_cycle(&self) -> Result<canopy::sync::CycleSummary, String> {
        self.link.set_open(true);
        let result = sync_now(self.http.clone(), self.client.url(), self.client.token.clone()).await;
        self.link.set_open(false);
        result
    }

    /// One cycle of the peer; a failed hash check is counted. Returns (changes moved, check clean).
    async fn peer_cycle(&mut self, op: &str, tally: &mut Tally) -> Result<(usize, bool), String> {
        tally.peer_cycles += 1;
        let cycle = self.peer.cycle().await?;
        tally.peer_checks_skipped += usize::from(cycle.check_skipped);
        // While another peer's push is open the hub keeps unused blobs that Trilium erased; a
        // difference in blobs then is what Trilium sees too, and repairs by queueing the sector.
        let blobs_only = cycle.differing.iter().all(|(entity, _)| entity == "blobs");
        if cycle.hub_push_open && blobs_only && !cycle.differing.is_empty() {
            tally.peer_checks_during_open_push.push(format!("{op}: {:?}", cycle.differing));
        } else if !cycle.differing.is_empty() {
            tally.peer_check_failures.push(format!("{op}: {:?}", cycle.differing));
        }
        Ok((cycle.pushed + cycle.pulled, cycle.clean()))
    }

    /// Cycles of both clients until two rounds in a row move nothing and the peer's check is clean.
    async fn settle(&mut self, tally: &mut Tally) -> Result<usize, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.client_status().await.in_progress {
            if Instant::now() > deadline {
                return Err("the client's cycle still runs 30 s after its link was cut".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut quiet_rounds = 0;
        for round in 1..=MAX_SETTLE_ROUNDS {
            let summary = self.client_cycle().await?;
            let (moved, clean) = self.peer_cycle(&format!("settle round {round}"), tally).await?;
            quiet_rounds = if moved + summary.pushed + summary.pulled == 0 && clean { quiet_rounds + 1 } else { 0 };
            if quiet_rounds == 2 {
                return Ok(round);
            }
        }
        Err(format!("still moving changes after {MAX_SETTLE_ROUNDS} rounds"))
    }
}

/// A new attribute under the operation's own id (so that a seed replays its choices).
fn attribute(attribute_id: &str, note_id: &str, kind: AttributeKind, name: &str, value: &str) -> Attribute {
    Attribute { attribute_id: attribute_id.to_owned(), ..Attribute::new(note_id, kind.as_str(), name, value) }
}

/// A sync cycle of a random client.
async fn sync(m: &mut Mixed, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    if rng.below(2) == 0 {
        tally.client_syncs += 1;
        match m.client_cycle().await {
            Ok(s) => format!("{op}: sync client (pushed {}, pulled {})", s.pushed, s.pulled),
            Err(e) => {
                tally.sync_errors.push(format!("op {op}: client: {e}"));
                format!("{op}: sync client FAILED: {e}")
            }
        }
    } else {
        match m.peer_cycle(&format!("op {op}"), tally).await {
            Ok((moved, clean)) => format!("{op}: sync trilium ({moved} changes, check {})", if clean { "clean" } else { "not clean" }),
            Err(e) => {
                tally.sync_errors.push(format!("op {op}: trilium: {e}"));
                format!("{op}: sync trilium FAILED: {e}")
            }
        }
    }
}

/// One random operation on a random member, recorded; returns what it did, for the log.
async fn act(m: &mut Mixed, record: &mut Record, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    let on = rng.below(3);
    let who = NAMES[on];
    let roll = rng.below(100);
    if roll < 14 {
        return sync(m, rng, op, tally).await;
    }
    let db = m.db(on);
    let live = test_notes(&db, record, false);
    let mut parents = vec!["root".to_owned()];
    parents.extend(live.iter().cloned());
    let branches = test_branches(&db, record);
    let attributes = strings(&db, "SELECT attributeId FROM attributes WHERE isDeleted = 0 AND name IN ('torture', 'tortureLink') ORDER BY attributeId");
    let some_note = |rng: &mut Rng| rng.pick(&live).cloned();
    let change = match roll {
        14..30 => {
            let parent = rng.pick(&parents).unwrap().clone();
            Some(Change::Create { note_id: format!("tortureNote{op:05}"), parent, title: format!("n{op}"), content: format!("<p>c{op}</p>") })
        }
        30..42 => some_note(rng).map(|note_id| Change::Retitle { note_id, title: format!("t{op}") }),
        42..58 => some_note(rng).map(|note_id| Change::Write { note_id, content: format!("<p>c{op}</p>") }),
        58..64 => some_note(rng).map(|note_id| Change::DeleteNote { note_id }),
        64..69 => rng.pick(&branches).map(|(branch_id, _, _)| Change::DeleteBranch { branch_id: branch_id.clone() }),
        69..77 => rng.pick(&branches).cloned().map(|(_, note_id, _)| Change::Clone { note_id, parent: rng.pick(&parents).unwrap().clone() }),
        77..84 => rng
            .pick(&branches)
            .cloned()
            .map(|(branch_id, note_id, _)| Change::Move { branch_id, note_id, parent: rng.pick(&parents).unwrap().clone() }),
        84..92 => some_note(rng).map(|note_id| Change::Label { attribute_id: format!("tortureLabel{op:05}"), note_id, value: format!("v{op}") }),
        92..96 => rng.pick(&attributes).map(|id| Change::RemoveAttribute { attribute_id: id.clone() }),
        _ => match (some_note(rng), some_note(rng)) {
            (Some(from), Some(to)) => Some(Change::Relate { attribute_id: format!("tortureLink{op:05}"), from, to }),
            _ => None,
        },
    };
    let Some(change) = change else { return format!("{op}: {who} has nothing to act on") };
    let before = note_rows(&db);
    drop(db);
    let outcome = if on == PEER {
        tally.peer_writes += 1;
        m.on_the_peer(&change)
    } else {
        tally.etapi_calls += 1;
        m.through_etapi(on, &change).await
    };
    record.operated(&before, &note_rows(&m.db(on)));
    let line = format!("{op}: {who}: {change:?}");
    match outcome {
        Outcome::Done => {
            if let Change::Create { note_id, .. } = change {
                record.notes.push(note_id);
            }
            line
        }
        Outcome::Refused(why) => {
            tally.refused += 1;
            format!("{line}: refused: {why}")
        }
        Outcome::Failed(why) => {
            tally.server_errors.push(format!("{line}: {why}"));
            format!("{line}: FAILED: {why}")
        }
    }
}

/// A kill of the hub or the client (idle, or a moment into a cycle), or a crash of the peer.
async fn kill(m: &mut Mixed, rng: &mut Rng, op: usize, tally: &mut Tally) -> String {
    let delay = Duration::from_millis(rng.below(60) as u64);
    let mode = rng.below(6);
    if mode < 5 {
        tally.kills += 1;
    }
    match mode {
        0 => {
            m.hub.kill_and_restart().await;
            format!("{op}!: kill -9 hub (idle)")
        }
        1 => {
            m.client.kill_and_restart().await;
            format!("{op}!: kill -9 client (idle)")
        }
        2 => {
            let Mixed { hub, peer, .. } = m;
            let (cycle, ()) = tokio::join!(peer.cycle(), async {
                tokio::time::sleep(delay).await;
                hub.kill_and_restart().await;
            });
            tally.cut += usize::from(cycle.is_err());
            format!("{op}!: kill -9 hub {} ms into a cycle of trilium ({})", delay.as_millis(), outcome_of(cycle.map(|c| c.pushed + c.pulled)))
        }
        mode @ (3 | 4) => {
            m.link.set_open(true);
            let cycle = tokio::spawn(sync_now(m.http.clone(), m.client.url(), m.client.token.clone()));
            tokio::time::sleep(delay).await;
            let victim = if mode == 3 { &mut m.hub } else { &mut m.client };
            victim.kill_and_restart().await;
            let outcome = cycle.await.unwrap();
            m.link.set_open(false);
            tally.cut += usize::from(outcome.is_err());
            format!(
                "{op}!: kill -9 {} {} ms into a cycle of the client ({})",
                NAMES[mode - 3],
                delay.as_millis(),
                outcome_of(outcome.map(|s| s.pushed + s.pulled))
            )
        }
        _ => {
            tally.peer_crashes += 1;
            let (crash, place) = match rng.below(3) {
                0 => (m.peer.crash_after_a_push().await, "after a push the hub took, its cursor not moved"),
                1 => (m.peer.crash_in_a_pull(true).await, "after it applied the first page of a pull"),
                _ => (m.peer.crash_in_a_pull(false).await, "before it applied the first page of a pull"),
            };
            tally.cut += 1;
            format!("{op}!: trilium crashes {place} ({})", outcome_of(crash))
        }
    }
}

fn outcome_of(result: Result<usize, String>) -> String {
    match result {
        Ok(moved) => format!("done: {moved} changes"),
        Err(e) => format!("cut: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_cluster_with_a_trilium_client_converges() {
    let seed: u64 = env_number("CANOPY_TORTURE_SEED", DEFAULT_SEED);
    let ops: usize = env_number("CANOPY_TORTURE_OPS", DEFAULT_OPS);
    let kill_every: usize = env_number("CANOPY_TORTURE_KILL_EVERY", DEFAULT_KILL_EVERY);
    let started = Instant::now();
    let mut m = Mixed::start().await;
    let mut basic = Rng(seed);
    let mut kills = Rng(seed ^ 0x6b69_6c6c);
    let mut record = Record::default();
    let mut tally = Tally::default();
    let mut log = Vec::with_capacity(ops);
    // Each line of the log with the time it ended, to read beside the instances' logs.
    let at = || chrono::Utc::now().format("%H:%M:%S%.3f");
    for op in 0..ops {
        let line = act(&mut m, &mut record, &mut basic, op, &mut tally).await;
        log.push(format!("{} {line}", at()));
        if kill_every > 0 && kills.below(kill_every) == 0 {
            let mut rng = Rng(kills.next());
            let line = kill(&mut m, &mut rng, op, &mut tally).await;
            log.push(format!("{} {line}", at()));
        }
    }
    let settled = m.settle(&mut tally).await;
    let client_check = m.client_status().await.hash_check;
    m.hub.process.stop_with("TERM");
    m.client.process.stop_with("TERM");

    let documents: Vec<(canopy::Document, canopy::db::InstanceId)> = [&m.hub.dir, &m.client.dir]
        .into_iter()
        .map(|dir| {
            let document = canopy::Document::open_existing(&dir.join("document.db")).unwrap();
            let id = std::fs::read_to_string(dir.join("instance-id")).unwrap();
            (document, canopy::db::InstanceId::from(id.trim()))
        })
        .collect();
    let mut members: Vec<Member<'_>> =
        documents.iter().zip(NAMES).map(|((document, instance_id), name)| Member { name, document, instance_id }).collect();
    members.push(Member { name: NAMES[PEER], document: &m.peer.doc, instance_id: &m.peer.id });
    let examined = examine(&members, &mut record);
    let findings = &examined.findings;
    let broken: i64 = findings.iter().map(|f| f.orphan_notes + f.dangling_branches + f.attributes_of_deleted_notes).sum();
    let needless = &examined.needless_revisions;
    let losers_missing = examined.total(|f| f.losers_missing);
    let lost = examined.total(|f| f.lost_texts.len());
    println!(
        "mixed torture: seed={seed} ops={ops} kill_every={kill_every} members=hub+client (processes)+trilium (simulated) \
         kills={} trilium_crashes={} cut={} etapi_calls={} trilium_writes={} refused={} server_errors={} client_syncs={} \
         trilium_cycles={} trilium_checks_skipped={} trilium_check_failures={} trilium_blob_checks_during_an_open_push={} \
         sync_errors={} settle={} \
         rows_differing={} hashes_equal={} deep_check_findings={} broken_tree={broken} \
         needless_conflict_revisions={} losers_missing={losers_missing} lost_texts={lost} in {:.1} s",
        tally.kills,
        tally.peer_crashes,
        tally.cut,
        tally.etapi_calls,
        tally.peer_writes,
        tally.refused,
        tally.server_errors.len(),
        tally.client_syncs,
        tally.peer_cycles,
        tally.peer_checks_skipped,
        tally.peer_check_failures.len(),
        tally.peer_checks_during_open_push.len(),
        tally.sync_errors.len(),
        match &settled {
            Ok(rounds) => format!("{rounds} rounds"),
            Err(e) => e.clone(),
        },
        examined.rows_differing(),
        examined.hashes_equal(),
        examined.deep_findings.len(),
        needless.len(),
        started.elapsed().as_secs_f64(),
    );
    for (name, f) in NAMES.iter().zip(findings) {
        println!("  {name}: {f:?}");
    }

    let mut fail = Failures::default();
    fail.unless(tally.server_errors.is_empty(), || format!("calls answered 5xx or not at all: {:#?}", tally.server_errors));
    fail.unless(tally.sync_errors.is_empty(), || format!("sync cycles failed: {:#?}", tally.sync_errors));
    fail.unless(tally.peer_check_failures.is_empty(), || format!("the Trilium client's hash checks failed: {:#?}", tally.peer_check_failures));
    fail.unless(settled.is_ok(), || format!("settling: {settled:?}"));
    fail.unless(client_check.as_ref().is_some_and(|c| c.passed), || format!("the client's last hash check: {client_check:?}"));
    fail.unless(examined.differing.is_empty(), || format!("rows differ from the hub's: {:#?}", examined.differing));
    fail.unless(examined.hashes_equal(), || format!("sector hashes differ: {:#?}", examined.hashes));
    fail.unless(examined.deep_findings.is_empty(), || format!("deep check: {:#?}", examined.deep_findings));
    fail.unless(broken == 0, || format!("{broken} tree breakages or live attributes of deleted notes"));
    // A Trilium client proves that it took a pull page only by asking for the next one; a kill of the
    // hub, or its own crash, between the two leaves the hub unsure, and it keeps a revision rather
    // than risk overwriting a text: needless then, but never a loss. Without kills there is none.
    fail.unless(needless.is_empty() || tally.kills + tally.peer_crashes > 0, || {
        format!("needless conflict revisions without any kill: {needless:?}")
    });
    fail.unless(losers_missing == 0, || format!("{losers_missing} conflicts whose losing content was gone"));
    fail.unless(lost == 0, || format!("lost texts: {:#?}", findings.iter().map(|f| &f.lost_texts).collect::<Vec<_>>()));
    let failures = fail.0;
    if !failures.is_empty() || env_number("CANOPY_TORTURE_VERBOSE", 0u8) != 0 {
        eprintln!("mixed torture seed={seed} ops={ops}: the operations were:\n{}", log.join("\n"));
    }
    if !failures.is_empty() {
        let kept = m.root.keep();
        for (instance, name) in [(&m.hub, "hub"), (&m.client, "client")] {
            let lines = instance.all_lines();
            eprintln!("{name}'s last log lines:\n{}", lines[lines.len().saturating_sub(40)..].join("\n"));
            std::fs::write(kept.join(format!("{name}.log")), lines.join("\n")).unwrap();
        }
        std::fs::write(kept.join("operations.log"), log.join("\n")).unwrap();
        eprintln!("the data directories, the logs and the operations are kept in {}", kept.display());
        panic!("mixed torture seed={seed} ops={ops} failed:\n{}", failures.join("\n"));
    }
}
