//! `config.ini` in the data directory: read with Trilium's section and key names, written on first start.
//!
//! Every value is checked when read; a bad one stops the start with one line naming the file, the key
//! and the problem. The file is never rewritten once it exists.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ini::Ini;

use crate::auth::client_ip::TrustedProxy;

pub const FILE_NAME: &str = "config.ini";
pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}: not a valid ini file: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("{file}: [{section}] {key}: {problem}")]
    Value { file: PathBuf, section: &'static str, key: &'static str, problem: String },
    #[error("environment variable {name}: {problem}")]
    Env { name: &'static str, problem: String },
    #[error("{file}: cannot write the default configuration: {source}")]
    Write { file: PathBuf, source: std::io::Error },
}

/// Settings as read from `config.ini`, with environment overrides applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub instance_name: Option<String>,
    /// `[General] noBackup`: switches the daily/weekly/monthly backups off.
    pub no_backup: bool,
    /// `[General] noAuthentication`: pages and calls need no login (Trilium's meaning: for an instance
    /// behind something else that authenticates).
    pub no_authentication: bool,
    pub host: IpAddr,
    pub port: u16,
    /// `[Network] https` with `certPath` and `keyPath`: Canopy serves TLS itself.
    pub tls: Option<TlsConfig>,
    /// `[Network] trustedReverseProxy`: whose `X-Forwarded-*` headers are believed.
    pub trusted_reverse_proxy: TrustedProxy,
    pub sync: SyncConfig,
}

/// PEM files for `https=true`; relative paths are taken from the data directory.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    /// The hub this instance syncs with; `None` when this instance is a hub only.
    /// The value `disabled` switches off sync configured elsewhere, as in Trilium.
    pub server_host: Option<String>,
    /// `None` means: use the document option, then the default of 120 s.
    pub timeout: Option<Duration>,
    pub proxy: Option<String>,
    /// Canopy-only: the one-time token an empty hub printed, to send it this document (`canopySeedToken`).
    pub seed_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance_name: None,
            no_backup: false,
            no_authentication: false,
            host: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_PORT,
            tls: None,
            trusted_reverse_proxy: TrustedProxy::None,
            sync: SyncConfig { server_host: None, timeout: None, proxy: None, seed_token: None },
        }
    }
}

/// What a new data directory gets: every key Canopy reads, documented, with its default.
pub const DEFAULT_CONFIG_INI: &str = r#"; Canopy configuration. Section and key names are Trilium's, so a Trilium config.ini works here too.
; Environment variables override these values: TRILIUM_HOST, TRILIUM_PORT, TRILIUM_SYNC_SERVER_HOST,
; TRILIUM_SYNC_SERVER_TIMEOUT, TRILIUM_SYNC_SERVER_PROXY, CANOPY_SEED_TOKEN.

[General]
; A name for this instance, shown in logs.
instanceName=
; true switches off the daily, weekly and monthly backups in backup/.
noBackup=false
; true lets anybody who reaches this instance use it without a password (only behind something else
; that authenticates). ETAPI still needs its tokens.
noAuthentication=false

[Network]
; The address to listen on. 127.0.0.1 serves this machine only; 0.0.0.0 serves every interface.
host=127.0.0.1
; The port to listen on (1-65535).
port=8080
; true serves https (TLS) with the PEM certificate chain certPath and private key keyPath
; (relative paths are taken from this directory). The session cookie is then marked Secure.
https=false
certPath=
keyPath=
; Which reverse proxies to believe for the client's address (X-Forwarded-For, used by the login limit
; and the logs), scheme (X-Forwarded-Proto) and host (X-Forwarded-Host): false (none), true (the
; leftmost X-Forwarded-For address), a number of proxy hops in front of Canopy, or a comma-separated
; list of proxy addresses and CIDR ranges (also loopback, linklocal, uniquelocal).
trustedReverseProxy=false

[Sync]
; The central sync server (hub) this instance syncs with, e.g. http://hub.example:8080.
; Empty: this instance syncs with no hub (it can still be one). "disabled": ignore the document's sync setting.
syncServerHost=
; How long to wait for the hub, in milliseconds. Empty: the document's option, else 120000.
syncServerTimeout=
; An HTTP proxy for reaching the hub, e.g. http://proxy.example:3128.
syncProxy=
; To send this document to an empty hub started with --wait-for-seed: the one-time token it printed.
canopySeedToken=
"#;

/// Reads `config.ini` in `data_dir`, creating it from [`DEFAULT_CONFIG_INI`] if missing.
pub fn load_or_create(data_dir: &Path) -> Result<Config, ConfigError> {
    let file = data_dir.join(FILE_NAME);
    if !file.exists() {
        write_new(&file)?;
    }
    let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
    let mut config = parse(&file, &text)?;
    apply_env(&mut config, |name| std::env::var(name).ok())?;
    Ok(config)
}

fn write_new(file: &Path) -> Result<(), ConfigError> {
    use std::io::Write;
    // create_new: never overwrite a file that appeared meanwhile.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .map_err(|source| ConfigError::Write { file: file.to_path_buf(), source })?;
    f.write_all(DEFAULT_CONFIG_INI.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|source| ConfigError::Write { file: file.to_path_buf(), source })
}

pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let ini = Ini::load_from_str(text).map_err(|e| ConfigError::Syntax { file: file.to_path_buf(), message: e.to_string() })?;
    let get = |section: &str, key: &str| -> Option<String> {
        ini.section(Some(section))
            .and_then(|s| s.get(key))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let bad = |section: &'static str, key: &'static str, problem: String| ConfigError::Value {
        file: file.to_path_buf(),
        section,
        key,
        problem,
    };
    let mut config = Config::default();
    config.instance_name = get("General", "instanceName");
    if let Some(v) = get("General", "noBackup") {
        config.no_backup = parse_bool(&v).map_err(|p| bad("General", "noBackup", p))?;
    }
    if let Some(v) = get("General", "noAuthentication") {
        config.no_authentication = parse_bool(&v).map_err(|p| bad("General", "noAuthentication", p))?;
    }
    if let Some(v) = get("Network", "https") {
        if parse_bool(&v).map_err(|p| bad("Network", "https", p))? {
            let path = |key: &'static str| {
                get("Network", key).map(PathBuf::from).ok_or_else(|| bad("Network", key, "is required when https=true, but it is empty".into()))
            };
            config.tls = Some(TlsConfig { cert_path: path("certPath")?, key_path: path("keyPath")? });
        }
    }
    if let Some(v) = get("Network", "trustedReverseProxy") {
        config.trusted_reverse_proxy = TrustedProxy::parse(&v).map_err(|p| bad("Network", "trustedReverseProxy", p))?;
    }
    if let Some(v) = get("Network", "host") {
        config.host = parse_host(&v).map_err(|p| bad("Network", "host", p))?;
    }
    if let Some(v) = get("Network", "port") {
        config.port = parse_port(&v).map_err(|p| bad("Network", "port", p))?;
    }
    if let Some(v) = get("Sync", "syncServerHost") {
        config.sync.server_host = Some(parse_sync_host(&v).map_err(|p| bad("Sync", "syncServerHost", p))?);
    }
    if let Some(v) = get("Sync", "syncServerTimeout") {
        config.sync.timeout = Some(parse_timeout(&v).map_err(|p| bad("Sync", "syncServerTimeout", p))?);
    }
    // Trilium reads both spellings; its sample file uses syncServerProxy.
    let proxy = get("Sync", "syncProxy").map(|v| ("syncProxy", v)).or_else(|| get("Sync", "syncServerProxy").map(|v| ("syncServerProxy", v)));
    if let Some((key, v)) = proxy {
        config.sync.proxy = Some(parse_url(&v).map_err(|p| bad("Sync", key, p))?);
    }
    config.sync.seed_token = get("Sync", "canopySeedToken");
    Ok(config)
}

/// Environment variables win over `config.ini`, as in Trilium.
fn apply_env(config: &mut Config, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let bad = |name: &'static str, problem: String| ConfigError::Env { name, problem };
    let get = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    if let Some(v) = get("TRILIUM_HOST") {
        config.host = parse_host(&v).map_err(|p| bad("TRILIUM_HOST", p))?;
    }
    if let Some(v) = get("TRILIUM_PORT") {
        config.port = parse_port(&v).map_err(|p| bad("TRILIUM_PORT", p))?;
    }
    if let Some(v) = get("TRILIUM_SYNC_SERVER_HOST") {
        config.sync.server_host = Some(parse_sync_host(&v).map_err(|p| bad("TRILIUM_SYNC_SERVER_HOST", p))?);
    }
    if let Some(v) = get("TRILIUM_SYNC_SERVER_TIMEOUT") {
        config.sync.timeout = Some(parse_timeout(&v).map_err(|p| bad("TRILIUM_SYNC_SERVER_TIMEOUT", p))?);
    }
    if let Some(v) = get("CANOPY_SEED_TOKEN") {
        config.sync.seed_token = Some(v);
    }
    if let Some(v) = get("TRILIUM_SYNC_SERVER_PROXY") {
        config.sync.proxy = Some(parse_url(&v).map_err(|p| bad("TRILIUM_SYNC_SERVER_PROXY", p))?);
    }
    Ok(())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("'{v}' is not true or false")),
    }
}

fn parse_host(v: &str) -> Result<IpAddr, String> {
    if v == "localhost" {
        return Ok(IpAddr::from([127, 0, 0, 1]));
    }
    v.parse().map_err(|_| format!("'{v}' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"))
}

fn parse_port(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("'{v}' is not a port number (1-65535)")),
    }
}

fn parse_timeout(v: &str) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(format!("'{v}' is not a positive number of milliseconds")),
    }
}

fn parse_sync_host(v: &str) -> Result<String, String> {
    if v == "disabled" {
        return Ok(v.to_string());
    }
    parse_url(v).map(|url| url.trim_end_matches('/').to_string())
}

fn parse_url(v: &str) -> Result<String, String> {
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
        .ok_or_else(|| format!("'{v}' is not an http:// or https:// address"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(format!("'{v}' has no host name"));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/data/config.ini"), text)
    }

    #[test]
    fn default_file_parses_to_defaults() {
        assert_eq!(parse_str(DEFAULT_CONFIG_INI).unwrap(), Config::default());
    }

    #[test]
    fn reads_trilium_keys() {
        let c = parse_str("[General]\nnoBackup=true\n[Network]\nhost=0.0.0.0\nport=37101\n[Sync]\nsyncServerHost=http://hub:8080/\nsyncServerTimeout=5000\nsyncServerProxy=http://proxy:3128\n").unwrap();
        assert!(c.no_backup);
        assert_eq!(c.host, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(c.port, 37101);
        assert_eq!(c.sync.server_host.as_deref(), Some("http://hub:8080"));
        assert_eq!(c.sync.timeout, Some(Duration::from_millis(5000)));
        assert_eq!(c.sync.proxy.as_deref(), Some("http://proxy:3128"));
    }

    #[test]
    fn bad_values_name_file_key_and_problem() {
        let cases = [
            ("[Network]\nport=80x\n", "/data/config.ini: [Network] port: '80x' is not a port number (1-65535)"),
            ("[Network]\nport=0\n", "/data/config.ini: [Network] port: '0' is not a port number (1-65535)"),
            ("[Network]\nhost=my host\n", "/data/config.ini: [Network] host: 'my host' is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)"),
            ("[General]\nnoBackup=maybe\n", "/data/config.ini: [General] noBackup: 'maybe' is not true or false"),
            ("[Sync]\nsyncServerHost=hub:8080\n", "/data/config.ini: [Sync] syncServerHost: 'hub:8080' is not an http:// or https:// address"),
            ("[Sync]\nsyncServerTimeout=-1\n", "/data/config.ini: [Sync] syncServerTimeout: '-1' is not a positive number of milliseconds"),
            ("[Sync]\nsyncProxy=http://\n", "/data/config.ini: [Sync] syncProxy: 'http://' has no host name"),
        ];
        for (text, expected) in cases {
            let err = parse_str(text).unwrap_err().to_string();
            assert_eq!(err, expected, "for {text:?}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn env_overrides_file() {
        let mut c = parse_str("[Network]\nport=9000\n").unwrap();
        apply_env(&mut c, |name| (name == "TRILIUM_PORT").then(|| "9100".to_string())).unwrap();
        assert_eq!(c.port, 9100);
        let err = apply_env(&mut c, |name| (name == "TRILIUM_PORT").then(|| "http".to_string())).unwrap_err();
        assert_eq!(err.to_string(), "environment variable TRILIUM_PORT: 'http' is not a port number (1-65535)");
    }

    #[test]
    fn reads_the_authentication_keys() {
        let c = parse_str("[General]\nnoAuthentication=true\n[Network]\nhttps=true\ncertPath=cert.pem\nkeyPath=/etc/key.pem\ntrustedReverseProxy=true\n").unwrap();
        assert!(c.no_authentication);
        assert_eq!(c.tls, Some(TlsConfig { cert_path: "cert.pem".into(), key_path: "/etc/key.pem".into() }));
        assert_eq!(c.trusted_reverse_proxy, TrustedProxy::All);
        // https=false ignores the paths, as Trilium does.
        let c = parse_str("[Network]\nhttps=false\ncertPath=cert.pem\n").unwrap();
        assert_eq!(c.tls, None);
        let err = parse_str("[Network]\nhttps=true\ncertPath=cert.pem\n").unwrap_err().to_string();
        assert_eq!(err, "/data/config.ini: [Network] keyPath: is required when https=true, but it is empty");
        let err = parse_str("[Network]\ntrustedReverseProxy=10.0.0.0/33\n").unwrap_err().to_string();
        assert!(err.starts_with("/data/config.ini: [Network] trustedReverseProxy: '10.0.0.0/33'"), "{err}");
    }

    #[test]
    fn disabled_sync_host_is_kept() {
        let c = parse_str("[Sync]\nsyncServerHost=disabled\n").unwrap();
        assert_eq!(c.sync.server_host.as_deref(), Some("disabled"));
    }
}
