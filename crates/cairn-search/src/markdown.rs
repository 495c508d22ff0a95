//! Knowledge-base articles are Markdown. This module turns them into plain text for the
//! index and into HTML that is safe to put in a page, and drafts an article from a
//! resolved ticket.
//!
//! The HTML is safe **by construction**: the renderer walks pulldown-cmark's events and
//! writes only the elements it knows (headings, paragraphs, lists, quotes, code, tables,
//! emphasis, links), with every piece of text escaped. Raw HTML in the source is shown
//! as text, never passed through; a link keeps its `href` only when the URL is http(s)
//! or relative, so `javascript:` and `data:` URLs become plain text; images become their
//! alt text, because the UI fetches nothing from outside.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
}

/// The text of a Markdown document for indexing: the words people read, blocks on
/// their own lines, link targets, markup and raw HTML tags left out.
pub fn to_plain_text(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    for event in parser(markdown) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push(' '),
            Event::Start(Tag::Item) => newline(&mut out),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::Item
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::BlockQuote(_),
            ) => newline(&mut out),
            Event::End(TagEnd::TableCell) => out.push(' '),
            // Inline and block HTML is markup, not text: an article's words are in the
            // Markdown around it.
            _ => {}
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

fn newline(out: &mut String) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Renders Markdown to HTML that can be embedded in a page as it is (see the module
/// documentation for what is kept).
pub fn to_safe_html(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    // Whether each open link was written as `<a>` (its URL was allowed).
    let mut links: Vec<bool> = Vec::new();
    // Inside an image only its alt text is written, as text.
    let mut image_depth = 0usize;
    let mut in_table_head = false;
    for event in parser(markdown) {
        if image_depth > 0 {
            match event {
                Event::Start(Tag::Image { .. }) => image_depth += 1,
                Event::End(TagEnd::Image) => image_depth -= 1,
                Event::Text(t) | Event::Code(t) => escape_into(&mut out, &t),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => out.push_str("<p>"),
                Tag::Heading { level, .. } => {
                    out.push_str("<h");
                    out.push_str(heading_number(level));
                    out.push('>');
                }
                Tag::BlockQuote(_) => out.push_str("<blockquote>\n"),
                Tag::CodeBlock(kind) => {
                    out.push_str("<pre><code");
                    if let CodeBlockKind::Fenced(info) = kind {
                        let lang = info.split_whitespace().next().unwrap_or("");
                        if !lang.is_empty()
                            && lang
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '_'))
                        {
                            out.push_str(" class=\"language-");
                            out.push_str(lang);
                            out.push('"');
                        }
                    }
                    out.push('>');
                }
                Tag::List(Some(1)) => out.push_str("<ol>\n"),
                Tag::List(Some(start)) => {
                    out.push_str("<ol start=\"");
                    out.push_str(&start.to_string());
                    out.push_str("\">\n");
                }
                Tag::List(None) => out.push_str("<ul>\n"),
                Tag::Item => out.push_str("<li>"),
                Tag::Table(_) => out.push_str("<table>"),
                Tag::TableHead => {
                    in_table_head = true;
                    out.push_str("<thead><tr>");
                }
                Tag::TableRow => out.push_str("<tr>"),
                Tag::TableCell => out.push_str(if in_table_head { "<th>" } else { "<td>" }),
                Tag::Emphasis => out.push_str("<em>"),
                Tag::Strong => out.push_str("<strong>"),
                Tag::Strikethrough => out.push_str("<del>"),
                Tag::Link { dest_url, .. } => {
                    let allowed = is_allowed_url(&dest_url);
                    if allowed {
                        out.push_str("<a href=\"");
                        escape_into(&mut out, dest_url.trim());
                        out.push_str("\" rel=\"nofollow noopener noreferrer\">");
                    }
                    links.push(allowed);
                }
                Tag::Image { .. } => image_depth = 1,
                // Not enabled in the parser options, or HTML blocks whose content
                // arrives as `Html` events below: nothing to open.
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph => out.push_str("</p>\n"),
                TagEnd::Heading(level) => {
                    out.push_str("</h");
                    out.push_str(heading_number(level));
                    out.push_str(">\n");
                }
                TagEnd::BlockQuote(_) => out.push_str("</blockquote>\n"),
                TagEnd::CodeBlock => out.push_str("</code></pre>\n"),
                TagEnd::List(true) => out.push_str("</ol>\n"),
                TagEnd::List(false) => out.push_str("</ul>\n"),
                TagEnd::Item => out.push_str("</li>\n"),
                TagEnd::Table => out.push_str("</tbody></table>\n"),
                TagEnd::TableHead => {
                    in_table_head = false;
                    out.push_str("</tr></thead><tbody>\n");
                }
                TagEnd::TableRow => out.push_str("</tr>\n"),
                TagEnd::TableCell => out.push_str(if in_table_head { "</th>" } else { "</td>" }),
                TagEnd::Emphasis => out.push_str("</em>"),
                TagEnd::Strong => out.push_str("</strong>"),
                TagEnd::Strikethrough => out.push_str("</del>"),
                TagEnd::Link if links.pop() == Some(true) => out.push_str("</a>"),
                _ => {}
            },
            Event::Text(t) => escape_into(&mut out, &t),
            Event::Code(t) => {
                out.push_str("<code>");
                escape_into(&mut out, &t);
                out.push_str("</code>");
            }
            // Raw HTML is shown as the text it is: never interpreted.
            Event::Html(t) | Event::InlineHtml(t) => escape_into(&mut out, &t),
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<br>\n"),
            Event::Rule => out.push_str("<hr>\n"),
            // Math, footnotes and task lists are not enabled; their text, if any,
            // arrives as `Text`.
            _ => {}
        }
    }
    out
}

fn heading_number(level: HeadingLevel) -> &'static str {
    match level {
        HeadingLevel::H1 => "1",
        HeadingLevel::H2 => "2",
        HeadingLevel::H3 => "3",
        HeadingLevel::H4 => "4",
        HeadingLevel::H5 => "5",
        HeadingLevel::H6 => "6",
    }
}

/// http(s) URLs and relative ones (no scheme) are allowed. Whitespace and control
/// characters anywhere refuse the URL, because browsers strip some of them before
/// reading the scheme (`java\tscript:` is `javascript:` to them).
pub fn is_allowed_url(url: &str) -> bool {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    // A scheme is what stands before the first ':' if no '/', '?' or '#' comes
    // earlier (RFC 3986); without one the URL is relative.
    match url.find([':', '/', '?', '#']) {
        Some(i) if url.as_bytes()[i] == b':' => {
            let scheme = url[..i].to_ascii_lowercase();
            scheme == "http" || scheme == "https"
        }
        _ => true,
    }
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A draft knowledge-base article made from a resolved ticket: a title, the problem as
/// the merchant described it and the solution from the resolution comment, in the
/// ticket's language, for support to edit before publishing.
///
/// What identifies the merchant is taken out, since the article may become public:
/// e-mail addresses, IPv4 addresses and mobile numbers become placeholders.
pub fn draft_article(ticket_id: &str, title: &str, body: &str, resolution: &str) -> String {
    let chinese = is_mostly_chinese(&format!("{title}{body}"));
    let (problem, solution, note) = if chinese {
        (
            "问题",
            "解决方法",
            format!("> 草稿，由工单 {ticket_id} 生成：发布前请核对内容并去掉商家的具体信息。"),
        )
    } else {
        (
            "Problem",
            "Solution",
            format!(
                "> Draft made from ticket {ticket_id}: check it and remove anything specific \
                 to the merchant before publishing."
            ),
        )
    };
    let title = clean_title(title);
    format!(
        "# {title}\n\n{note}\n\n## {problem}\n\n{}\n\n## {solution}\n\n{}\n",
        paragraphs(&redact(body)),
        paragraphs(&redact(resolution)),
    )
}

/// True when Han characters outnumber Latin letters: enough to pick a language for
/// headings and labels.
pub fn is_mostly_chinese(text: &str) -> bool {
    let han = text
        .chars()
        .filter(|&c| crate::tokenizer::is_han(c))
        .count();
    let latin = text.chars().filter(|c| c.is_ascii_alphabetic()).count();
    // A Han character carries about as much as a short English word.
    han * 3 >= latin && han > 0
}

/// Drops the reply prefixes and urgency markers tickets carry, which do not belong in
/// an article's title.
fn clean_title(title: &str) -> String {
    let mut t = title.trim();
    loop {
        let before = t;
        for prefix in [
            "Re:",
            "RE:",
            "Fwd:",
            "回复：",
            "回复:",
            "【紧急】",
            "[urgent]",
            "URGENT:",
            "紧急：",
        ] {
            if let Some(rest) = t.strip_prefix(prefix) {
                t = rest.trim_start();
            }
        }
        if t == before {
            break;
        }
    }
    let t = t.trim_end_matches(['!', '！', '?', '？', '.', '。']);
    // A title is one line: a heading cannot span two.
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalises line endings and blank lines so the text is paragraphs of Markdown.
fn paragraphs(text: &str) -> String {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(current.join("\n"));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join("\n"));
    }
    out.join("\n\n")
}

/// Replaces e-mail addresses, IPv4 addresses and mainland mobile numbers with
/// placeholders. Works on runs of address-like ASCII characters, so it also finds them
/// inside Chinese text with no spaces around them.
pub fn redact(text: &str) -> String {
    let is_part =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_part) {
        out.push_str(&rest[..start]);
        let run_len = rest[start..]
            .find(|c: char| !is_part(c))
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        // A sentence's final period is not part of an address.
        let core = run.trim_end_matches('.');
        match classify(core) {
            Some(placeholder) => {
                out.push_str(placeholder);
                out.push_str(&run[core.len()..]);
            }
            None => out.push_str(run),
        }
        rest = &rest[start + run_len..];
    }
    out.push_str(rest);
    out
}

fn classify(run: &str) -> Option<&'static str> {
    if let Some((local, domain)) = run.split_once('@') {
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.contains('@');
        return ok.then_some("[email]");
    }
    let parts: Vec<&str> = run.split('.').collect();
    if parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
    {
        return Some("[ip]");
    }
    if run.len() == 11 && run.starts_with('1') && run.bytes().all(|b| b.is_ascii_digit()) {
        return Some("[phone]");
    }
    None
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn plain_text_keeps_the_words_and_drops_the_markup() {
        let md = "# 重置 RDS 密码\n\n在**控制台**进入 [实例详情](https://example.com/rds)，点击 `重置密码`。\n\n- 步骤一\n- 步骤二 <b>注意</b>\n\n```sql\nSHOW PROCESSLIST;\n```\n\n| 参数 | 值 |\n|---|---|\n| max_connections | 2000 |\n";
        expect![[r#"
            重置 RDS 密码
            在控制台进入 实例详情，点击 重置密码。
            步骤一
            步骤二 注意
            SHOW PROCESSLIST;
            参数 值
            max_connections 2000"#]]
        .assert_eq(&to_plain_text(md));
    }

    #[test]
    fn html_keeps_structure_and_escapes_everything_else() {
        let md = "## Reset a password\n\n1. Open *Instances*\n2. Click **Reset** & confirm\n\nSee [the guide](/kb/a-1 \"t\") or [docs](https://help.example.com/x?a=1&b=2).\n\n> Note: <script>alert(1)</script>\n\n<div onclick=\"x()\">raw block</div>\n\n![diagram](https://evil.example.com/x.png)\n\n```bash\necho '<hi>'\n```\n";
        expect![[r#"
            <h2>Reset a password</h2>
            <ol>
            <li>Open <em>Instances</em></li>
            <li>Click <strong>Reset</strong> &amp; confirm</li>
            </ol>
            <p>See <a href="/kb/a-1" rel="nofollow noopener noreferrer">the guide</a> or <a href="https://help.example.com/x?a=1&amp;b=2" rel="nofollow noopener noreferrer">docs</a>.</p>
            <blockquote>
            <p>Note: &lt;script&gt;alert(1)&lt;/script&gt;</p>
            </blockquote>
            &lt;div onclick=&quot;x()&quot;&gt;raw block&lt;/div&gt;
            <p>diagram</p>
            <pre><code class="language-bash">echo &#39;&lt;hi&gt;&#39;
            </code></pre>
        "#]]
        .assert_eq(&to_safe_html(md));
    }

    #[test]
    fn dangerous_links_lose_their_href_but_keep_their_text() {
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:x",
            "java%0ascript:x",
            "<java\tscript:alert(1)>",
            "file:///etc/passwd",
        ] {
            let html = to_safe_html(&format!("[click]({url})"));
            assert!(!html.contains("href"), "{url} → {html}");
            assert!(html.contains("click"), "{url} → {html}");
        }
        for url in [
            "https://a.example",
            "http://a.example/x",
            "/kb/1",
            "#steps",
            "../x",
            "kb-2",
        ] {
            assert!(is_allowed_url(url), "{url}");
        }
    }

    #[test]
    fn a_resolved_ticket_becomes_a_draft_in_its_language() {
        expect![[r#"
            # 【RDS】连接数满了，应用报 Too many connections

            > 草稿，由工单 t-1001 生成：发布前请核对内容并去掉商家的具体信息。

            ## 问题

            双11 预热开始后，我们的 RDS 实例一直报 Too many connections，
            联系人 [email]，电话 [phone]，应用服务器 [ip]。

            ## 解决方法

            实例的 max_connections 为 2000，应用连接池配置过大（每台 200 × 12 台）。
            已将连接池上限调为 100 并开启空闲回收，连接数降到 900 左右。
        "#]]
        .assert_eq(&draft_article(
            "t-1001",
            "【紧急】【RDS】连接数满了，应用报 Too many connections！！",
            "双11 预热开始后，我们的 RDS 实例一直报 Too many connections，\r\n联系人 ops@shop.example.com，电话 13812345678，应用服务器 10.1.2.3。\r\n\r\n\r\n",
            "实例的 max_connections 为 2000，应用连接池配置过大（每台 200 × 12 台）。\n已将连接池上限调为 100 并开启空闲回收，连接数降到 900 左右。",
        ));
        let en = draft_article(
            "t-7",
            "Re: Re: How do I reset my database password?",
            "I forgot the root password of rm-bp1x.",
            "Reset it in the console: Instances → Accounts → Reset password.",
        );
        assert!(
            en.starts_with("# How do I reset my database password\n"),
            "{en}"
        );
        assert!(
            en.contains("## Solution\n\nReset it in the console"),
            "{en}"
        );
    }
}
