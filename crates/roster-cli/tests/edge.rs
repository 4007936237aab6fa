//! The HTTP edge against abuse, over the real app (issue 14).

mod support;

use support::spawn_app;

#[tokio::test]
async fn a_crafted_people_cursor_is_a_400_not_a_dropped_connection() {
    let app = spawn_app().await;
    for cursor in ["a%C3%A9b", "%C3%A9%C3%A9", "a%C3%A9%0A%7B%22level%22%3A%22INFO%22%7Dx", "zz"] {
        let res = app.get(&format!("/v1/people?cursor={cursor}")).await;
        assert_eq!(res.status(), 400, "cursor {cursor}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(app.get("/v1/people").await.status(), 200, "the server lives on");
}
