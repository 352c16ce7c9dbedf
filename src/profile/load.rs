//! Finding and reading profiles: the search order of profile directories,
//! the bundled set, TOML parsing with file:line:column errors, and the
//! assembled, validated `ProfileSet`.

use super::validate::{validate_catalog, validate_role};
use super::*;

/// Where a profile set was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "path")]
pub enum ProfileSource {
    Directory(PathBuf),
    Bundled,
}

impl fmt::Display for ProfileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileSource::Directory(p) => write!(f, "{}", p.display()),
            ProfileSource::Bundled => f.write_str("bundled profiles"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProfileSet {
    pub source: ProfileSource,
    pub catalog: Catalog,
    pub roles: BTreeMap<String, Role>,
    pub warnings: Vec<String>,
}

impl ProfileSet {
    pub fn role_names(&self) -> Vec<&str> {
        self.roles.keys().map(String::as_str).collect()
    }
}

/// One problem found in a profile file.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("{file}:{line}:{column}: {key}{message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        /// "key `x`: " when the key is known, else empty.
        key: String,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("reading {file}: {message}")]
    Read { file: String, message: String },
    #[error("profile directory {dir} has no tools.toml (expected {dir}/tools.toml and {dir}/roles/*.toml)")]
    NoCatalog { dir: String },
}

/// All problems found while loading, so `validate` can print every one.
#[derive(Debug, Clone, Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ProfileErrors(pub Vec<ProfileError>);

/// Turns a TOML parse error into file:line:column with the key it concerns.
pub fn syntax_error(file: &str, text: &str, err: &toml::de::Error) -> ProfileError {
    let (line, column, key) = match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[line_start..].chars().count() + 1;
            let line_text = text[line_start..].lines().next().unwrap_or("");
            let upto = &line_text[..(span.start - line_start).min(line_text.len())];
            (line, column, key_near(upto, line_text))
        }
        None => (1, 1, None),
    };
    ProfileError::Syntax {
        file: file.to_string(),
        line,
        column,
        key: key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
        message: err
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The key an error position belongs to: the last `name =` before it on its line,
/// or the line's own key when the error points at the key itself.
fn key_near(upto: &str, line: &str) -> Option<String> {
    let key_of = |s: &str| -> Option<String> {
        let eq = s.rfind('=')?;
        let head = &s[..eq];
        let start = head.rfind(['{', ',', '[']).map_or(0, |i| i + 1);
        let k = head[start..].trim().trim_matches('"');
        (!k.is_empty()).then(|| k.to_string())
    };
    key_of(upto).or_else(|| {
        let t = line.trim();
        if t.starts_with('[') {
            return Some(t.trim_matches(|c| c == '[' || c == ']').to_string());
        }
        t.split('=')
            .next()
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    })
}

pub(super) fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, ProfileError> {
    toml::from_str(text).map_err(|e| syntax_error(file, text, &e))
}

/// Finds the profile directory: the first that exists among the explicit one,
/// `$XDG_CONFIG_HOME/agentjail/profiles` and `/etc/agentjail/profiles`;
/// `None` means the bundled profiles. An explicit directory that does not
/// exist is an error, never a silent fall-back.
/// The operator's profile directory. It takes precedence over the user's:
/// a location a sandboxed tool could write (a bind over `$HOME`) must not
/// override the operator's policy.
pub const ETC_PROFILES: &str = "/etc/agentjail/profiles";

/// The places searched when no directory is named, first wins: the
/// operator's (`/etc/agentjail/profiles`), then the user's
/// (`$XDG_CONFIG_HOME/agentjail/profiles` or `~/.config/agentjail/profiles`).
pub fn candidates() -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::from(ETC_PROFILES)];
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(x).join("agentjail/profiles"));
    } else if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(h).join(".config/agentjail/profiles"));
    }
    candidates
}

pub fn locate(explicit: Option<&Path>) -> Result<Option<PathBuf>, ProfileErrors> {
    if let Some(dir) = explicit {
        if dir.is_dir() {
            return Ok(Some(dir.to_path_buf()));
        }
        return Err(ProfileErrors(vec![ProfileError::Read {
            file: dir.display().to_string(),
            message: "not a directory (given by --profiles or AGENTJAIL_PROFILES)".into(),
        }]));
    }
    Ok(candidates()
        .into_iter()
        .find(|d| d.join("tools.toml").is_file()))
}

/// Loads the profile set from a directory, or the bundled one.
pub fn load(dir: Option<&Path>) -> Result<ProfileSet, ProfileErrors> {
    match dir {
        Some(d) => load_dir(d),
        None => {
            let roles = BUNDLED_ROLES
                .iter()
                .map(|(n, t)| (format!("roles/{n}.toml"), n.to_string(), t.to_string()))
                .collect();
            build_set(
                ProfileSource::Bundled,
                "tools.toml",
                BUNDLED_TOOLS,
                roles,
                Vec::new(),
            )
        }
    }
}

fn read(path: &Path) -> Result<String, ProfileError> {
    std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
        file: path.display().to_string(),
        message: e.to_string(),
    })
}

fn load_dir(dir: &Path) -> Result<ProfileSet, ProfileErrors> {
    let tools_path = dir.join("tools.toml");
    if !tools_path.is_file() {
        return Err(ProfileErrors(vec![ProfileError::NoCatalog {
            dir: dir.display().to_string(),
        }]));
    }
    let tools_text = read(&tools_path).map_err(|e| ProfileErrors(vec![e]))?;
    let mut errors = Vec::new();
    let mut roles = Vec::new();
    let roles_dir = dir.join("roles");
    if let Ok(entries) = std::fs::read_dir(&roles_dir) {
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read(&p) {
                Ok(text) => roles.push((p.display().to_string(), name, text)),
                Err(e) => errors.push(e),
            }
        }
    }
    let source = ProfileSource::Directory(dir.to_path_buf());
    super::cache::built(&source, &tools_text, &roles, !errors.is_empty(), || {
        build_set(
            source.clone(),
            &tools_path.display().to_string(),
            &tools_text,
            roles.clone(),
            errors,
        )
    })
}

/// Parses and validates a catalog and roles given as (file label, role name, text).
pub fn build_set(
    source: ProfileSource,
    tools_file: &str,
    tools_text: &str,
    role_texts: Vec<(String, String, String)>,
    mut errors: Vec<ProfileError>,
) -> Result<ProfileSet, ProfileErrors> {
    let mut warnings = Vec::new();
    let (catalog, catalog_ok) = match parse_toml::<Catalog>(tools_file, tools_text) {
        Ok(c) => {
            validate_catalog(tools_file, &c, &mut errors, &mut warnings);
            (c, true)
        }
        Err(e) => {
            errors.push(e);
            (Catalog::default(), false)
        }
    };
    let mut roles = BTreeMap::new();
    for (file, name, text) in role_texts {
        match parse_toml::<Role>(&file, &text) {
            Ok(mut role) => {
                role.name = name.clone();
                // Against a catalog that did not parse, every tool would be
                // "not defined": report the catalog's fault once instead.
                if catalog_ok {
                    validate_role(&file, &role, &catalog, &mut errors, &mut warnings);
                }
                roles.insert(name, role);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ProfileSet {
            source,
            catalog,
            roles,
            warnings,
        })
    } else {
        Err(ProfileErrors(errors))
    }
}

/// The names of the `{placeholders}` in one argv template element.
pub fn placeholders(element: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = element;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}
