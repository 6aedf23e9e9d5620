//! The private PostgreSQL of zero-config mode.
//!
//! When no `DATABASE_URL` is given, the server runs its own PostgreSQL cluster
//! from the host's server binaries inside its data directory, reuses it on the
//! next start and stops it on exit. The cluster listens on a Unix socket only,
//! in a directory that only the cluster's owner may enter, so `trust`
//! authentication admits nobody but that owner (and root).
//!
//! `initdb` and `postgres` refuse to run as root; when the server is root it
//! runs them as the unprivileged `postgres` user (created by Debian's package)
//! and hands that user the cluster's directories.
//!
//! One server at a time: while it runs, the server holds an exclusive lock on
//! `hall-registry.lock` in the data directory (with its pid written in the
//! file). The kernel drops the lock when the process dies, however it dies,
//! so a PostgreSQL left running by a killed server is adopted by the next
//! start, while a second server beside a live one is refused before it can
//! adopt (and later stop) the first one's PostgreSQL.

use std::ffi::CString;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{chown, DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// Database and role names inside the private cluster.
const DB_NAME: &str = "hall";
const DB_USER: &str = "hall";
/// Port number used only to name the socket file (`.s.PGSQL.<port>`); no TCP port is opened.
const SOCKET_PORT: u16 = 5432;
/// A Unix socket path must fit `sockaddr_un.sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Name of the unprivileged account that runs PostgreSQL when we are root.
const UNPRIVILEGED_USER: &str = "postgres";
/// Name of the lock file in the data directory; it holds the running server's pid.
pub const LOCK_FILE: &str = "hall-registry.lock";

#[derive(Debug, thiserror::Error)]
pub enum PrivatePgError {
    #[error(
        "no PostgreSQL server binaries (initdb, postgres) were found on PATH or under \
         /usr/lib/postgresql/*/bin. Install the PostgreSQL server (Debian/Ubuntu: \
         `apt-get install postgresql`; macOS: `brew install postgresql`), point \
         HALL_POSTGRES_BIN_DIR at the directory holding initdb and postgres, or set \
         DATABASE_URL to use an existing PostgreSQL"
    )]
    BinariesNotFound,
    #[error(
        "the data directory {data_dir} holds a PostgreSQL {found} cluster but only binaries \
         for version(s) {available} were found; install PostgreSQL {found}'s server binaries \
         or set HALL_POSTGRES_BIN_DIR"
    )]
    VersionMismatch {
        data_dir: String,
        found: String,
        available: String,
    },
    #[error(
        "running as root, but there is no unprivileged `{UNPRIVILEGED_USER}` user to run \
         PostgreSQL as (initdb and postgres refuse to run as root); create one, run \
         hall-registry as a normal user, or set DATABASE_URL"
    )]
    NoUnprivilegedUser,
    #[error(
        "the PostgreSQL socket path {0} is longer than the {MAX_SOCKET_PATH} bytes Unix \
         sockets allow; choose a shorter HALL_DATA_DIR"
    )]
    SocketPathTooLong(String),
    #[error(
        "the data directory {dir} is in use by another hall-registry ({holder}); stop that \
         one first, or give this one a data directory of its own (HALL_DATA_DIR)"
    )]
    DataDirInUse { dir: String, holder: String },
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("private PostgreSQL did not become ready within {0:?}; see {1}")]
    StartTimeout(Duration, String),
    #[error("database setup in the private PostgreSQL failed: {0}")]
    Setup(#[source] sqlx::Error),
}

fn io_err(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> PrivatePgError {
    let action = action.into();
    move |source| PrivatePgError::Io { action, source }
}

/// Directory holding `initdb`, `postgres` and `pg_ctl`, with its major version when known.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub dir: PathBuf,
    pub major: Option<String>,
}

impl PgBinaries {
    /// Finds the server binaries: an explicit directory first, then PATH, then
    /// Debian's `/usr/lib/postgresql/<major>/bin`. When the data directory
    /// already holds a cluster, binaries of that cluster's major version win.
    pub fn locate(explicit: Option<&Path>, cluster_dir: &Path) -> Result<Self, PrivatePgError> {
        if let Some(dir) = explicit {
            return if has_server_binaries(dir) {
                Ok(Self {
                    dir: dir.to_path_buf(),
                    major: None,
                })
            } else {
                Err(PrivatePgError::Command {
                    action: "HALL_POSTGRES_BIN_DIR".into(),
                    detail: format!("{} does not contain initdb and postgres", dir.display()),
                })
            };
        }
        let wanted = fs::read_to_string(cluster_dir.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_string());

        let mut candidates: Vec<PgBinaries> = Vec::new();
        if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
            let mut versioned: Vec<(u32, PathBuf, String)> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    let n: u32 = name.parse().ok()?;
                    Some((n, e.path().join("bin"), name))
                })
                .filter(|(_, dir, _)| has_server_binaries(dir))
                .collect();
            versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
            candidates.extend(versioned.into_iter().map(|(_, dir, name)| PgBinaries {
                dir,
                major: Some(name),
            }));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if has_server_binaries(&dir) {
                    candidates.insert(0, PgBinaries { dir, major: None });
                    break;
                }
            }
        }
        if candidates.is_empty() {
            return Err(PrivatePgError::BinariesNotFound);
        }
        let Some(wanted) = wanted else {
            return Ok(candidates.remove(0));
        };
        let mut available = Vec::new();
        for mut c in candidates {
            let major = match &c.major {
                Some(m) => m.clone(),
                None => server_major_version(&c.dir).unwrap_or_default(),
            };
            if major == wanted {
                c.major = Some(major);
                return Ok(c);
            }
            available.push(major);
        }
        Err(PrivatePgError::VersionMismatch {
            data_dir: cluster_dir.display().to_string(),
            found: wanted,
            available: available.join(", "),
        })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "postgres"].iter().all(|b| dir.join(b).is_file())
}

/// `postgres --version` prints e.g. `postgres (PostgreSQL) 15.19 (Debian …)`.
fn server_major_version(dir: &Path) -> Option<String> {
    let out = Command::new(dir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(2)?;
    Some(version.split('.').next()?.to_string())
}

/// The account PostgreSQL runs as: ourselves, or `postgres` when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
    is_other_user: bool,
}

impl RunAs {
    fn detect() -> Result<Self, PrivatePgError> {
        // SAFETY: geteuid/getegid cannot fail and touch no memory.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if euid != 0 {
            return Ok(Self {
                uid: euid,
                gid: egid,
                is_other_user: false,
            });
        }
        let name =
            CString::new(UNPRIVILEGED_USER).map_err(|_| PrivatePgError::NoUnprivilegedUser)?;
        // SAFETY: getpwnam returns a pointer into static storage or null; we copy
        // the two integers out immediately and keep no reference. Startup is
        // single-threaded at this point, so the static buffer is not shared.
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        if pw.is_null() {
            return Err(PrivatePgError::NoUnprivilegedUser);
        }
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Ok(Self {
            uid,
            gid,
            is_other_user: true,
        })
    }

    fn command(&self, program: PathBuf, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd).env("LC_ALL", "C");
        if self.is_other_user {
            cmd.uid(self.uid).gid(self.gid);
        }
        cmd
    }

    /// Creates `dir` (0700) if needed and gives it to the PostgreSQL account.
    fn own_dir(&self, dir: &Path) -> Result<(), PrivatePgError> {
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(format!("creating {}", dir.display())))?;
        }
        if self.is_other_user {
            chown(dir, Some(self.uid), Some(self.gid)).map_err(io_err(format!(
                "handing {} to {UNPRIVILEGED_USER}",
                dir.display()
            )))?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("restricting {}", dir.display())))?;
        Ok(())
    }

    /// Whether the PostgreSQL account may pass through `meta`'s directory.
    fn can_traverse(&self, meta: &fs::Metadata) -> bool {
        let mode = meta.mode();
        (meta.uid() == self.uid && mode & 0o100 != 0)
            || (meta.gid() == self.gid && mode & 0o010 != 0)
            || mode & 0o001 != 0
    }
}

/// Creates the data directory, mode 0700, when it does not exist (missing
/// parents get the usual mode). True when it was created now.
pub fn create_data_dir(dir: &Path) -> std::io::Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the data directory the tightest mode under which PostgreSQL works.
///
/// When PostgreSQL runs as ourselves: 0700. When we are root and it runs as
/// `postgres`, that account must pass through the data directory to its own
/// (0700) cluster and socket directories: the data directory is 0710 and
/// belongs to `postgres`'s group, so only that group may enter it and nobody
/// may list it. A directory that existed before and holds no cluster of ours
/// (the user made it) keeps its mode; only traversal for others is added when
/// `postgres` needs it.
fn prepare_data_dir(data_dir: &Path, run_as: &RunAs) -> Result<(), PrivatePgError> {
    let created = create_data_dir(data_dir).map_err(io_err(format!(
        "creating data directory {}",
        data_dir.display()
    )))?;
    let ours = created || data_dir.join("postgres").join("PG_VERSION").is_file();
    let tighten = || -> std::io::Result<()> {
        if run_as.is_other_user {
            chown(data_dir, None, Some(run_as.gid))?;
            fs::set_permissions(data_dir, fs::Permissions::from_mode(0o710))
        } else {
            fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700))
        }
    };
    if ours {
        match tighten() {
            Ok(()) => {}
            Err(e) if created => {
                return Err(PrivatePgError::Io {
                    action: format!("setting permissions on {}", data_dir.display()),
                    source: e,
                })
            }
            Err(e) => tracing::warn!(
                dir = %data_dir.display(), error = %e,
                "could not restrict the data directory's permissions"
            ),
        }
    }
    if run_as.is_other_user {
        let meta =
            fs::metadata(data_dir).map_err(io_err(format!("reading {}", data_dir.display())))?;
        if !run_as.can_traverse(&meta) {
            fs::set_permissions(
                data_dir,
                fs::Permissions::from_mode((meta.mode() & 0o7777) | 0o001),
            )
            .map_err(io_err(format!(
                "letting {UNPRIVILEGED_USER} pass through {}",
                data_dir.display()
            )))?;
            tracing::info!(
                dir = %data_dir.display(),
                "the data directory may now be passed through (not listed) by everyone, so \
                 that PostgreSQL, running as {UNPRIVILEGED_USER}, reaches its cluster"
            );
        }
    }
    Ok(())
}

/// The exclusive lock on a data directory, held for as long as this value
/// lives (the server keeps it for its lifetime); the kernel releases it when
/// the process dies. The file is opened close-on-exec, so PostgreSQL, which
/// may outlive us, does not inherit it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: fs::File,
}

impl DataDirLock {
    /// Takes the lock or says who holds it; never waits.
    pub fn acquire(data_dir: &Path) -> Result<Self, PrivatePgError> {
        let path = data_dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(PrivatePgError::DataDirInUse {
                    dir: data_dir.display().to_string(),
                    holder: lock_holder(&path),
                })
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(PrivatePgError::Io {
                    action: format!("locking {}", path.display()),
                    source,
                })
            }
        }
        let write_pid = |mut f: &fs::File| -> std::io::Result<()> {
            f.set_len(0)?;
            writeln!(f, "{}", std::process::id())?;
            f.flush()
        };
        write_pid(&file).map_err(io_err(format!("writing {}", path.display())))?;
        Ok(Self { _file: file })
    }
}

/// "pid N" from a held lock file. Its holder writes the pid right after
/// taking the lock, so an empty file gets a moment to fill.
fn lock_holder(path: &Path) -> String {
    for _ in 0..20 {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            return format!("pid {pid}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    "pid unknown".into()
}

/// A running private PostgreSQL. Call [`PrivatePostgres::stop`] on shutdown;
/// dropping it stops the server too, as a last resort.
#[derive(Debug)]
pub struct PrivatePostgres {
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    process: Option<PgProcess>,
    created: bool,
    /// Last field: released only after `Drop` has stopped PostgreSQL.
    _lock: DataDirLock,
}

#[derive(Debug)]
enum PgProcess {
    /// Started by us in this run.
    Child(Child),
    /// Left running by an earlier run that did not stop it (e.g. it was killed); adopted.
    Adopted(i32),
}

impl PrivatePostgres {
    /// Initialises the cluster on first use, starts it and makes sure the
    /// `hall` database exists. `data_dir` is the server's data directory.
    pub async fn start(data_dir: &Path, bin_dir: Option<&Path>) -> Result<Self, PrivatePgError> {
        let cluster_dir = data_dir.join("postgres");
        let socket_dir = data_dir.join("postgres-run");
        let log_file = data_dir.join("postgres.log");
        let socket_path = socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket_path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(PrivatePgError::SocketPathTooLong(
                socket_path.display().to_string(),
            ));
        }
        let bins = PgBinaries::locate(bin_dir, &cluster_dir)?;
        let run_as = RunAs::detect()?;

        prepare_data_dir(data_dir, &run_as)?;
        // Before anything else in the directory: another server may be using it.
        let lock = DataDirLock::acquire(data_dir)?;
        run_as.own_dir(&socket_dir)?;

        let created = !cluster_dir.join("PG_VERSION").is_file();
        if created {
            run_as.own_dir(&cluster_dir)?;
            initdb(&bins, &run_as, &cluster_dir, data_dir)?;
        }

        let process = match running_postmaster(&cluster_dir) {
            Some(pid) => {
                tracing::warn!(
                    pid,
                    "adopting a private PostgreSQL left running by an earlier run"
                );
                PgProcess::Adopted(pid)
            }
            None => PgProcess::Child(spawn_postgres(
                &bins,
                &run_as,
                &cluster_dir,
                &socket_dir,
                &log_file,
                data_dir,
            )?),
        };
        let mut pg = Self {
            cluster_dir,
            socket_dir,
            log_file,
            process: Some(process),
            created,
            _lock: lock,
        };
        if let Err(e) = pg.wait_ready_and_create_db().await {
            pg.stop_blocking();
            return Err(e);
        }
        Ok(pg)
    }

    /// Whether this start initialised a new cluster (false when reusing one).
    pub fn created(&self) -> bool {
        self.created
    }

    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Connection options for the `hall` database over the private socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.options_for(DB_NAME)
    }

    /// A human description for start-up output, e.g. `private PostgreSQL in /var/lib/…`.
    pub fn describe(&self) -> String {
        format!(
            "private PostgreSQL in {} (socket {}, log {})",
            self.cluster_dir.display(),
            self.socket_dir.display(),
            self.log_file.display()
        )
    }

    fn options_for(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(SOCKET_PORT)
            .username(DB_USER)
            .database(database)
            .application_name("hall-registry")
    }

    async fn wait_ready_and_create_db(&mut self) -> Result<(), PrivatePgError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut conn = loop {
            if let Some(PgProcess::Child(child)) = &mut self.process {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(PrivatePgError::Command {
                        action: "starting the private PostgreSQL".into(),
                        detail: format!("postgres exited with {status}: {}", self.log_tail()),
                    });
                }
            }
            match self.options_for("postgres").connect().await {
                Ok(conn) => break conn,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {
                    return Err(PrivatePgError::StartTimeout(
                        START_TIMEOUT,
                        self.log_file.display().to_string(),
                    ))
                }
            }
        };
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DB_NAME)
                .fetch_one(&mut conn)
                .await
                .map_err(PrivatePgError::Setup)?;
        if !exists {
            sqlx::query(&format!("CREATE DATABASE {DB_NAME}"))
                .execute(&mut conn)
                .await
                .map_err(PrivatePgError::Setup)?;
        }
        conn.close().await.map_err(PrivatePgError::Setup)?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        let Ok(file) = fs::File::open(&self.log_file) else {
            return format!("(no log at {})", self.log_file.display());
        };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        let start = lines.len().saturating_sub(5);
        lines[start..].join(" | ")
    }

    /// Stops the server with a fast shutdown (rolls back open transactions,
    /// writes a checkpoint) and waits for it to exit.
    pub async fn stop(mut self) {
        tokio::task::spawn_blocking(move || self.stop_blocking())
            .await
            .ok();
    }

    fn stop_blocking(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        let pid = match &process {
            PgProcess::Child(child) => child.id() as i32,
            PgProcess::Adopted(pid) => *pid,
        };
        // SIGINT is PostgreSQL's "fast shutdown".
        // SAFETY: kill has no memory effects; pid is the postmaster we started or adopted.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exited = match process {
            PgProcess::Child(mut child) => loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break true,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    Ok(None) => {
                        // SIGQUIT is "immediate shutdown": crash-safe, replays WAL on next start.
                        let _ = child.kill();
                        let _ = child.wait();
                        break false;
                    }
                }
            },
            PgProcess::Adopted(pid) => loop {
                if postmaster_exited(pid, &self.cluster_dir) {
                    break true;
                }
                if Instant::now() >= deadline {
                    unsafe { libc::kill(pid, libc::SIGQUIT) };
                    break false;
                }
                std::thread::sleep(Duration::from_millis(50));
            },
        };
        if exited {
            tracing::info!("private PostgreSQL stopped");
        } else {
            tracing::warn!("private PostgreSQL did not stop in time and was killed");
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

fn initdb(
    bins: &PgBinaries,
    run_as: &RunAs,
    cluster_dir: &Path,
    cwd: &Path,
) -> Result<(), PrivatePgError> {
    tracing::info!(dir = %cluster_dir.display(), "initialising a private PostgreSQL cluster");
    let out = run_as
        .command(bins.bin("initdb"), cwd)
        .arg("--pgdata")
        .arg(cluster_dir)
        .args([
            "--username",
            DB_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("running initdb"))?;
    if !out.status.success() {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if run_as.is_other_user {
            detail.push_str(&format!(
                " (initdb runs as the `{UNPRIVILEGED_USER}` user because hall-registry runs as \
                 root: every directory above {} must be enterable by that user)",
                cluster_dir.display()
            ));
        }
        // Leave no half-initialised cluster behind for the next start to trip on.
        let _ = fs::remove_dir_all(cluster_dir);
        return Err(PrivatePgError::Command {
            action: "initdb".into(),
            detail,
        });
    }
    Ok(())
}

fn spawn_postgres(
    bins: &PgBinaries,
    run_as: &RunAs,
    cluster_dir: &Path,
    socket_dir: &Path,
    log_file: &Path,
    cwd: &Path,
) -> Result<Child, PrivatePgError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log_file)
        .map_err(io_err(format!("opening {}", log_file.display())))?;
    // PostgreSQL writes through the descriptor we pass it: only we need the path.
    // A log made by an earlier version may be readable by others.
    let _ = fs::set_permissions(log_file, fs::Permissions::from_mode(0o600));
    let log_err = log
        .try_clone()
        .map_err(io_err(format!("opening {}", log_file.display())))?;
    run_as
        .command(bins.bin("postgres"), cwd)
        .arg("-D")
        .arg(cluster_dir)
        .arg("-k")
        .arg(socket_dir)
        .args(["-p", &SOCKET_PORT.to_string()])
        .args(["-c", "listen_addresses="])
        .args(["-c", "unix_socket_permissions=0700"])
        .args(["-c", "max_connections=200"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Own process group: a Ctrl-C in the terminal reaches us, and we stop
        // PostgreSQL after in-flight requests have finished.
        .process_group(0)
        .spawn()
        .map_err(io_err("starting postgres"))
}

/// The pid in `postmaster.pid`, whether or not it runs.
fn postmaster_pid_file(cluster_dir: &Path) -> Option<i32> {
    let text = fs::read_to_string(cluster_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The pid in `postmaster.pid` when that process is alive.
fn running_postmaster(cluster_dir: &Path) -> Option<i32> {
    let pid = postmaster_pid_file(cluster_dir)?;
    (process_alive(pid) && !is_zombie(pid)).then_some(pid)
}

/// Whether an adopted postmaster has exited. It is not our child, so we
/// cannot reap it: until its parent does, it lingers as a zombie that
/// `kill(pid, 0)` still finds. So: gone, or a zombie, or its
/// `postmaster.pid` removed (PostgreSQL's last act on a clean exit).
fn postmaster_exited(pid: i32, cluster_dir: &Path) -> bool {
    !process_alive(pid) || is_zombie(pid) || postmaster_pid_file(cluster_dir) != Some(pid)
}

/// Whether `pid` has exited and waits to be reaped (Linux `/proc`; elsewhere
/// false, and `postmaster.pid` tells instead).
fn is_zombie(pid: i32) -> bool {
    // "pid (comm) S …": the state follows the last ')' (comm may hold any byte).
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            Some(rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_explicit_bin_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = PgBinaries::locate(Some(dir.path()), dir.path()).unwrap_err();
        assert!(err.to_string().contains("does not contain initdb"), "{err}");
    }

    #[test]
    fn binaries_not_found_message_says_what_to_install_or_set() {
        let msg = PrivatePgError::BinariesNotFound.to_string();
        assert!(msg.contains("apt-get install postgresql"));
        assert!(msg.contains("DATABASE_URL"));
        assert!(msg.contains("HALL_POSTGRES_BIN_DIR"));
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_data_dir_is_0700_and_an_existing_one_keeps_its_mode() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/data");
        assert!(create_data_dir(&dir).unwrap());
        assert_eq!(mode_of(&dir), 0o700);
        assert!(!create_data_dir(&dir).unwrap());

        let mine = root.path().join("made-by-the-user");
        fs::create_dir(&mine).unwrap();
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o750)).unwrap();
        let me = RunAs {
            uid: unsafe { libc::geteuid() },
            gid: unsafe { libc::getegid() },
            is_other_user: false,
        };
        prepare_data_dir(&mine, &me).unwrap();
        assert_eq!(
            mode_of(&mine),
            0o750,
            "a directory the user made is left alone"
        );
        // …unless it holds our cluster: then it is ours, from an earlier version.
        fs::create_dir(mine.join("postgres")).unwrap();
        fs::write(mine.join("postgres/PG_VERSION"), "15\n").unwrap();
        prepare_data_dir(&mine, &me).unwrap();
        assert_eq!(mode_of(&mine), 0o700);
    }

    #[test]
    fn as_root_the_data_dir_is_0710_for_the_postgres_group_only() {
        if unsafe { libc::geteuid() } != 0 {
            return; // chown to another group needs root
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let postgres = RunAs {
            uid: 4242,
            gid: 4243,
            is_other_user: true,
        };
        prepare_data_dir(&dir, &postgres).unwrap();
        let meta = fs::metadata(&dir).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o710);
        assert_eq!((meta.uid(), meta.gid()), (0, 4243));
        assert!(postgres.can_traverse(&meta));

        // A directory the user made, that postgres cannot enter, gets o+x only.
        let made = root.path().join("made");
        fs::create_dir(&made).unwrap();
        fs::set_permissions(&made, fs::Permissions::from_mode(0o700)).unwrap();
        prepare_data_dir(&made, &postgres).unwrap();
        assert_eq!(mode_of(&made), 0o701);
    }

    #[test]
    fn a_locked_data_dir_is_refused_naming_the_holder_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        assert_eq!(mode_of(&dir.path().join(LOCK_FILE)), 0o600);

        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("HALL_DATA_DIR"), "{msg}");

        drop(held);
        DataDirLock::acquire(dir.path()).expect("free once released");
    }

    #[test]
    #[cfg(target_os = "linux")] // zombies are read from /proc
    fn an_exited_unreaped_process_counts_as_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        fs::write(dir.path().join("postmaster.pid"), format!("{pid}\n")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !is_zombie(pid) {
            assert!(Instant::now() < deadline, "{pid} never became a zombie");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(process_alive(pid), "kill(pid, 0) still finds a zombie");
        assert!(postmaster_exited(pid, dir.path()));
        assert_eq!(running_postmaster(dir.path()), None);
        child.wait().unwrap();

        // A live process whose postmaster.pid is gone has stopped as PostgreSQL.
        let me = std::process::id() as i32;
        assert!(!is_zombie(me));
        assert!(postmaster_exited(me, dir.path()));
        fs::write(dir.path().join("postmaster.pid"), format!("{me}\n")).unwrap();
        assert!(!postmaster_exited(me, dir.path()));
    }

    #[test]
    fn a_dead_pid_is_not_a_running_postmaster() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("postmaster.pid"), "999999999\n").unwrap();
        assert_eq!(running_postmaster(dir.path()), None);
    }
}
