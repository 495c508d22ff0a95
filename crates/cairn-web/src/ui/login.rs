//! Signing in and out. A successful sign-in sets the session cookie, which is
//! `HttpOnly` (no script can read it), `SameSite=Lax` (other sites cannot post forms
//! with it) and `Secure` when the server is configured for HTTPS.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::Form;
use cairn_app::AppError;
use maud::html;
use serde::Deserialize;

use super::layout::{html_response, shell};
use super::{Page, UiError};
use crate::auth::{cookie, SESSION_COOKIE};
use crate::AppState;

/// The fields of the sign-in form.
#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
}

/// Shows the sign-in form.
pub async fn form() -> Response {
    sign_in_page(StatusCode::OK, "", None)
}

/// Checks the credentials; on success sets the session cookie and goes to the
/// overview, otherwise shows the form again with what went wrong.
pub async fn submit(
    State(s): State<AppState>,
    form: Result<Form<Credentials>, FormRejection>,
) -> Response {
    let Form(creds) = match form {
        Ok(f) => f,
        Err(e) => {
            return sign_in_page(
                e.status(),
                "",
                Some("The form needs a name and a password.".into()),
            )
        }
    };
    match s.app.login(&creds.name, &creds.password).await {
        Ok(secret) => {
            let secure = if s.config.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let set = format!("{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/{secure}");
            (
                AppendHeaders([(header::SET_COOKIE, set)]),
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(AppError::Unauthenticated(_)) => sign_in_page(
            StatusCode::UNAUTHORIZED,
            &creds.name,
            Some("Unknown user or wrong password.".into()),
        ),
        Err(e) => {
            let e = UiError::from(e);
            sign_in_page(e.status, &creds.name, Some(e.message))
        }
    }
}

/// Ends the session, if there is one, clears the cookie and goes to the sign-in form.
pub async fn logout(State(s): State<AppState>, parts: Parts) -> Response {
    if let Some(secret) = cookie(&parts, SESSION_COOKIE) {
        // Signing out must always work for the browser, so a store failure only
        // leaves the session to expire on its own.
        if let Err(e) = s.app.logout(secret).await {
            tracing::warn!(error = %e, "could not delete a session on sign-out");
        }
    }
    let secure = if s.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}");
    (
        AppendHeaders([(header::SET_COOKIE, clear)]),
        Redirect::to("/login"),
    )
        .into_response()
}

/// Answers with the sign-in form.
fn sign_in_page(status: StatusCode, name: &str, error: Option<String>) -> Response {
    html_response(status, shell(None, &sign_in(name, error)))
}

/// The sign-in form, with the name typed so far and an error, if any.
fn sign_in(name: &str, error: Option<String>) -> Page {
    Page {
        title: "Sign in".into(),
        section: None,
        body: html! {
            section .sign-in {
                h1 { "Sign in to cairn" }
                @if let Some(error) = &error {
                    p .alert #login-error role="alert" { (error) }
                }
                form #login-form method="post" action="/login" {
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(name) autocomplete="username"
                        required autofocus[name.is_empty()];
                    label for="password" { "Password" }
                    input #password type="password" name="password"
                        autocomplete="current-password" required autofocus[!name.is_empty()];
                    button type="submit" { "Sign in" }
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_sign_in_keeps_the_name_and_escapes_it() {
        let page = sign_in(
            "\"><script>",
            Some("Unknown user or wrong password.".into()),
        );
        let doc = shell(None, &page).into_string();
        assert!(doc.contains(r#"value="&quot;&gt;&lt;script&gt;""#), "{doc}");
        assert!(!doc.contains("<script>"));
        assert!(doc.contains(r#"role="alert""#));
        assert!(
            !doc.contains(r#"id="nav""#),
            "strangers get no navigation bar"
        );
    }
}
