//! Projects and flows kept between batches, so a batch of creates does not
//! read them again each time.
//!
//! Never trusted alone, so never stale in effect: a command accepted from
//! the cache is inserted by a statement that checks, in the same snapshot,
//! that each project and flow it relied on is still as cached (client,
//! status, default webhook; project, status, type), and inserts nothing
//! otherwise ([`bv_store::creates`]); the batch then goes again on fresh
//! reads. A command the cache would refuse is decided on a fresh read
//! instead (the portable path, which also refills the cache). So a project
//! deactivated or a flow paused (by `bvctl`, the API or by hand in SQL) takes
//! effect for every batch whose statement starts after that change commits:
//! the bound on staleness is zero, with no notification to miss.
//!
//! Entries are read again after [`MAX_AGE`] and the whole cache is dropped
//! past [`MAX_ENTRIES`], so neither memory nor unrelated columns drift.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bv_store::entity::{project, project_flow};
use bv_store::sea_orm::{ConnectionTrait, DbErr};

/// How long an entry is used before it is read again.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// More entries than this and the cache starts afresh.
pub const MAX_ENTRIES: usize = 10_000;

type Projects = HashMap<String, project::Model>;
type Flows = HashMap<String, project_flow::Model>;

#[derive(Default)]
struct Entries {
    projects: HashMap<String, (Instant, project::Model)>,
    flows: HashMap<String, (Instant, project_flow::Model)>,
}

/// The cache, shared by a worker's consumers.
#[derive(Default)]
pub struct References {
    entries: Mutex<Entries>,
}

impl References {
    /// The projects and flows with these ids (those that exist), from the
    /// cache where it holds them, read (in one query each) where not.
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        project_ids: &HashSet<&str>,
        flow_ids: &HashSet<&str>,
    ) -> Result<(Projects, Flows), DbErr> {
        let mut projects = HashMap::with_capacity(project_ids.len());
        let mut flows = HashMap::with_capacity(flow_ids.len());
        let (mut missing_projects, mut missing_flows) = (Vec::new(), Vec::new());
        if let Ok(entries) = self.entries.lock() {
            for id in project_ids {
                match entries.projects.get(*id) {
                    Some((at, p)) if at.elapsed() < MAX_AGE => {
                        projects.insert((*id).to_owned(), p.clone());
                    }
                    _ => missing_projects.push(*id),
                }
            }
            for id in flow_ids {
                match entries.flows.get(*id) {
                    Some((at, f)) if at.elapsed() < MAX_AGE => {
                        flows.insert((*id).to_owned(), f.clone());
                    }
                    _ => missing_flows.push(*id),
                }
            }
        }
        if !missing_projects.is_empty() {
            let read = bv_store::projects::by_ids(db, missing_projects).await?;
            self.remember(&read, &HashMap::new());
            projects.extend(read);
        }
        if !missing_flows.is_empty() {
            let read = bv_store::flows::by_ids(db, missing_flows).await?;
            self.remember(&HashMap::new(), &read);
            flows.extend(read);
        }
        Ok((projects, flows))
    }

    /// Keeps what was just read.
    pub fn remember(&self, projects: &Projects, flows: &Flows) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.projects.len() + entries.flows.len() + projects.len() + flows.len() > MAX_ENTRIES
        {
            *entries = Entries::default();
        }
        let now = Instant::now();
        for (id, p) in projects {
            entries.projects.insert(id.clone(), (now, p.clone()));
        }
        for (id, f) in flows {
            entries.flows.insert(id.clone(), (now, f.clone()));
        }
    }

    /// Drops these entries (found stale): the next use reads them.
    pub fn forget(&self, project_ids: &HashSet<&str>, flow_ids: &HashSet<&str>) {
        if let Ok(mut entries) = self.entries.lock() {
            for id in project_ids {
                entries.projects.remove(*id);
            }
            for id in flow_ids {
                entries.flows.remove(*id);
            }
        }
    }
}
