//! Tests of `params`.

#![allow(clippy::unwrap_used)]
use super::*;
use crate::profile::ParamSpec;
use proptest::prelude::*;

fn tool(toml_text: &str) -> ToolSpec {
    toml::from_str(toml_text).unwrap()
}

fn kubectl() -> ToolSpec {
    tool(
        r#"risk = "read"
command = ["kubectl", "get", "{resource}", "--namespace", "{namespace}", "--limit={n}"]
params.resource = { type = "string", pattern = "[a-z][a-z0-9.-]*" }
params.namespace = { type = "string", pattern = "[a-z0-9-]{1,63}" }
params.n = { type = "integer", default = 10, min = 1, max = 100 }
"#,
    )
}

fn p(pairs: &[(&str, Value)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn resolve_table() {
    let t = kubectl();
    let ok = |r: Result<Params, ParamError>| r.map(|_| ()).map_err(|e| e.to_string());
    let cases: Vec<(Params, Result<(), &str>)> = vec![
        (
            p(&[
                ("resource", "pods".into()),
                ("namespace", "monitoring".into()),
            ]),
            Ok(()),
        ),
        (
            p(&[("resource", "pods".into())]),
            Err("parameter `namespace` is required"),
        ),
        (
            p(&[
                ("resource", "pods".into()),
                ("namespace", "a".into()),
                ("x", "1".into()),
            ]),
            Err("parameter `x` is not known to tool `k` (known: n, namespace, resource)"),
        ),
        (
            p(&[("resource", "Pods!".into()), ("namespace", "a".into())]),
            Err("parameter `resource`: value does not match pattern [a-z][a-z0-9.-]*"),
        ),
        (
            p(&[
                ("resource", "pods".into()),
                ("namespace", "a".into()),
                ("n", "500".into()),
            ]),
            Err("parameter `n`: 500 is outside 1..=100"),
        ),
        (
            p(&[
                ("resource", "pods".into()),
                ("namespace", "a".into()),
                ("n", "ten".into()),
            ]),
            Err("parameter `n`: expected an integer, got \"ten\""),
        ),
        (
            p(&[("resource", Value::from(3)), ("namespace", "a".into())]),
            Err("parameter `resource`: expected a string, got a number"),
        ),
    ];
    for (given, want) in cases {
        let got = ok(resolve("k", &t, given.clone(), &BTreeSet::new()));
        assert_eq!(got, want.map_err(String::from), "{given:?}");
    }
}

#[test]
fn pattern_must_match_whole_value() {
    let t = kubectl();
    let e = resolve(
        "k",
        &t,
        p(&[("resource", "pods x".into()), ("namespace", "a".into())]),
        &BTreeSet::new(),
    );
    assert!(matches!(e, Err(ParamError::Pattern { .. })));
}

#[test]
fn defaults_fill_and_argv_is_built() {
    let t = kubectl();
    let r = resolve(
        "k",
        &t,
        p(&[
            ("resource", "pods".into()),
            ("namespace", "monitoring".into()),
        ]),
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(
        build_argv(&t, &r, &[]),
        [
            "kubectl",
            "get",
            "pods",
            "--namespace",
            "monitoring",
            "--limit=10"
        ]
    );
}

#[test]
fn json_values_keep_their_type_and_text_is_converted() {
    let t = kubectl();
    let base = || p(&[("resource", "pods".into()), ("namespace", "a".into())]);
    let mut given = base();
    given.insert("n".into(), "5".into());
    // `--param n=5`: text, converted.
    let r = resolve("k", &t, given.clone(), &BTreeSet::new()).unwrap();
    assert_eq!(r["n"], Value::from(5));
    // `--params '{"n": "5"}'`: a JSON string, refused, saying how to write it.
    let typed: BTreeSet<String> = ["n".to_string()].into();
    assert_eq!(
        resolve("k", &t, given, &typed).unwrap_err().to_string(),
        "parameter `n`: expected an integer, got the string \"5\" \
         (--params values keep their JSON type; write 5 without quotes)"
    );
    let mut given = base();
    given.insert("n".into(), Value::from(5));
    assert_eq!(
        resolve("k", &t, given, &typed).unwrap()["n"],
        Value::from(5)
    );
}

#[test]
fn a_trailing_slash_is_dropped_from_a_path() {
    let t = tool("command = [\"ls\", \"{p}\"]\nparams.p = { type = \"path\" }");
    let none = BTreeSet::new();
    let r = resolve("t", &t, p(&[("p", "/tmp/x/".into())]), &none).unwrap();
    assert_eq!(r["p"], Value::from("/tmp/x"));
    assert_eq!(
        resolve("t", &t, p(&[("p", "/".into())]), &none).unwrap()["p"],
        Value::from("/")
    );
    for bad in ["/tmp/x//", "/tmp/../", "/tmp/./", "/tmp//x/"] {
        assert!(
            resolve("t", &t, p(&[("p", bad.into())]), &none).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn paths_are_normal_and_absolute() {
    let spec: ParamSpec = toml::from_str("type = \"path\"").unwrap();
    for bad in ["rel/x", "/a/../b", "/a/./b", "/a//b", "/a/"] {
        assert!(check_value("p", &spec, &Value::from(bad)).is_err(), "{bad}");
    }
    assert!(check_value("p", &spec, &Value::from("/usr/lib/os-release")).is_ok());
}

#[test]
fn extra_args_rules() {
    let mut t = kubectl();
    assert!(check_extra_args("k", &t, &[]).is_ok());
    assert_eq!(
        check_extra_args("k", &t, &["-x".into()])
            .unwrap_err()
            .to_string(),
        "tool `k` takes no extra arguments after `--`"
    );
    t.extra_args = Some(crate::profile::ExtraArgs {
        pattern: "[a-z]+".into(),
        max: 2,
    });
    assert!(check_extra_args("k", &t, &["ab".into()]).is_ok());
    assert!(check_extra_args("k", &t, &["a b".into()]).is_err());
    assert!(check_extra_args("k", &t, &["a".into(), "b".into(), "c".into()]).is_err());
}

#[test]
fn a_value_is_never_rescanned_for_placeholders() {
    let t = tool("command = [\"echo\", \"{a}\", \"{b}\"]\nparams.a = { type = \"string\" }\nparams.b = { type = \"string\" }\n");
    let params = p(&[("a", "{b}".into()), ("b", "x".into())]);
    assert_eq!(build_argv(&t, &params, &[]), ["echo", "{b}", "x"]);
}

#[test]
fn option_slots_table() {
    // (template, value, refused)
    let cases = [
        (r#"["echo", "{v}"]"#, "--help", true),
        (r#"["echo", "{v}"]"#, "-n", true),
        (r#"["echo", "{v}"]"#, "x-y", false),
        (r#"["ls", "--", "{v}"]"#, "-la", false),
        (r#"["prog", "--v={v}"]"#, "-1", false),
        (r#"["prog", "{e}{v}"]"#, "-x", true),
        (r#"["prog", "{v}/x"]"#, "-rf", true),
    ];
    for (command, value, refused) in cases {
        let t = tool(&format!(
            "command = {command}\nparams.v = {{ type = \"string\" }}\nparams.e = {{ type = \"string\", default = \"\" }}\n"
        ));
        let params = p(&[("v", value.into()), ("e", "".into())]);
        let r = check_option_slots(&t, &params);
        assert_eq!(r.is_err(), refused, "{command} {value}: {r:?}");
        if let Err(e) = r {
            assert_eq!(e.param(), Some("v"));
        }
    }
    let t = tool("command = [\"echo\", \"{v}\"]\nparams.v = { type = \"string\", allow_leading_dash = true }\n");
    assert!(check_option_slots(&t, &p(&[("v", "-n".into())])).is_ok());
    assert_eq!(crate::profile::spec::option_slot_params(&t), [("v", 2)]);
}

#[test]
fn pattern_with_params_table() {
    let t = tool(
        r#"command = ["q", "{query}"]
params.ns = { type = "string" }
params.query = { type = "string", pattern_with_params = 'up\{ns="{ns}"\}(\[[0-9]{1,3}m\])?' }
"#,
    );
    for (ns, query, ok) in [
        ("monitoring", r#"up{ns="monitoring"}"#, true),
        ("monitoring", r#"up{ns="monitoring"}[5m]"#, true),
        ("monitoring", r#"up{ns="kube-system"}"#, false),
        ("mon.toring", r#"up{ns="monXtoring"}"#, false),
        ("a|b", r#"up{ns="a"}"#, false),
    ] {
        let params = p(&[("ns", ns.into()), ("query", query.into())]);
        let r = check_cross(&t, &params);
        assert_eq!(r.is_ok(), ok, "{ns} {query}: {r:?}");
    }
    // The parameter it names has no value: refused.
    let r = check_cross(&t, &p(&[("query", r#"up{ns=""}"#.into())]));
    assert!(r.is_err());
}

proptest! {
    #[test]
    fn a_value_fills_exactly_one_element(value in any::<String>()) {
        let t = tool("command = [\"prog\", \"--flag\", \"{v}\", \"tail\"]\nparams.v = { type = \"string\" }\n");
        let params = p(&[("v", Value::from(value.clone()))]);
        let argv = build_argv(&t, &params, &[]);
        prop_assert_eq!(argv.len(), 4);
        prop_assert_eq!(&argv[2], &value);
        prop_assert_eq!(&argv[3], "tail");
    }

    #[test]
    fn an_embedded_value_stays_inside_its_element(value in any::<String>()) {
        let t = tool("command = [\"prog\", \"--v={v}\"]\nparams.v = { type = \"string\" }\n");
        let params = p(&[("v", Value::from(value.clone()))]);
        let argv = build_argv(&t, &params, &[]);
        prop_assert_eq!(argv.len(), 2);
        prop_assert_eq!(argv[1].clone(), format!("--v={value}"));
    }
}

#[test]
fn sizes_are_checked_against_the_tools_limits() {
    let t = tool("risk = \"read\"\ncommand = [\"echo\", \"{a}\"]\nparams.a = { type = \"string\" }\nmax_value_size = \"10\"\nmax_call_size = \"15\"");
    let p = |v: &str| -> Params { [("a".to_string(), Value::from(v))].into_iter().collect() };
    // The name counts: "a" plus nine bytes is ten.
    assert!(check_sizes("t", &t, &p("123456789"), &[]).is_ok());
    assert!(matches!(
        check_sizes("t", &t, &p("1234567890"), &[]),
        Err(ParamError::TooLarge {
            size: 11,
            limit: 10,
            ..
        })
    ));
    assert!(matches!(
        check_sizes("t", &t, &p("1"), &["x".repeat(11)]),
        Err(ParamError::ExtraTooLarge { index: 0, .. })
    ));
    assert!(matches!(
        check_sizes("t", &t, &p("12345"), &["123456789".into(), "12".into()]),
        Err(ParamError::CallTooLarge {
            size: 17,
            limit: 15,
            ..
        })
    ));
    // Without settings, the defaults.
    let d = tool("risk = \"read\"\ncommand = [\"echo\"]");
    assert_eq!(size_limits(&d), (DEFAULT_MAX_VALUE, DEFAULT_MAX_CALL));
}
