//! The README's `[console]` examples are settings the server accepts.

#[derive(serde::Deserialize)]
struct File {
    console: roster_console::ConsoleSettings,
}

#[test]
fn the_readmes_examples_are_valid_console_settings() {
    let readme = include_str!("../README.md");
    let blocks: Vec<&str> =
        readme.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert_eq!(blocks.len(), 2, "the OIDC and the ALB example");
    for block in blocks {
        let file: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
        file.console.validate().unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert!(!file.console.roles.is_empty());
    }
}

#[test]
fn the_top_readmes_console_example_is_valid_settings() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Admin console").expect("the console's section")..];
    let block = section.split("```toml\n").nth(1).and_then(|b| b.split("```").next()).expect("its example");
    let file: File = toml::from_str(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    file.console.validate().unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert_eq!(file.console.roles.len(), 1);
}
