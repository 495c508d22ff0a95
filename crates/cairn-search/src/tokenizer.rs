//! One tokenizer for mixed Chinese and English text, used for indexing, for queries,
//! for snippets and for clustering, so that all four agree on what a word is.
//!
//! Text is cut into runs by script:
//! - **Han runs** go to jieba. [`Segmentation::Search`] (the index's mode) adds the
//!   dictionary words inside longer words, so "数据库连接" also yields "数据库" and
//!   "连接" and a search for either finds it. [`Segmentation::Precise`] keeps only the
//!   best cut, which clustering wants: overlapping pieces would count one word twice.
//! - **Word runs** (letters and digits of any other script) are lowercased; pure ASCII
//!   words are stemmed with tantivy's English stemmer ("connections" → "connect"),
//!   so "connection" finds "connections". Digits are kept ("502", "3306", "11").
//! - Everything else (spaces, punctuation, symbols, emoji) separates tokens.
//!
//! Stop words of both languages ("the", "how", "的", "请问") are dropped, and so are
//! single ASCII letters (the "s" of "merchant's") and runs longer than
//! [`MAX_TOKEN_BYTES`] (pasted hashes and base64). Offsets are byte offsets into the
//! original text, which tantivy's snippet generator needs to highlight the right words.
//! Tokens come out sorted by offset; the snippet generator assumes that.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use tantivy::tokenizer::{
    RawTokenizer, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer as TantivyTokenizer,
};

/// The name the tokenizer is registered under on the index's text fields.
pub const TOKENIZER_NAME: &str = "cairn_mixed";

/// Runs of word characters longer than this (in bytes) are not tokens but pasted
/// blobs (hashes, keys, base64): indexing them only bloats the term dictionary.
pub const MAX_TOKEN_BYTES: usize = 40;

/// jieba's dictionary is embedded in the binary (its `default-dict` feature) and takes
/// a noticeable moment to load, so it is loaded once, on first use, and shared.
static JIEBA: LazyLock<Jieba> = LazyLock::new(|| {
    let mut jieba = Jieba::new();
    for word in DOMAIN_WORDS {
        // A frequency high enough that the word beats its parts, as jieba's own
        // frequent words do.
        jieba.add_word(word, Some(10_000), None);
    }
    jieba
});

/// Words of the cloud's trade that jieba's general dictionary lacks and would otherwise
/// cut apart ("可用区" into "可用" + "区"), which would make them unsearchable as words.
const DOMAIN_WORDS: &[&str] = &[
    "可用区",
    "负载均衡",
    "不可用",
    "慢查询",
    "连接池",
    "缩容",
    "云服务器",
    "安全组",
    "双十一",
    "大促",
    "压测",
    "肉鸡",
    "工单",
    "带宽",
    "白名单",
    "主从",
    "只读实例",
    "读写分离",
    "资源池",
];

/// How Han text is cut into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segmentation {
    /// jieba's search mode: the best cut plus the dictionary words inside each longer
    /// word. For indexes and queries (recall).
    Search,
    /// jieba's best cut only, each character in at most one token. For counting words,
    /// as clustering does.
    Precise,
}

/// Cuts `text` into tokens (see the module documentation for the rules).
///
/// Positions count tokens in order; with [`Segmentation::Search`] the words inside a
/// longer word get their own positions, so phrase queries are not meaningful over this
/// tokenizer, and the index does not record positions.
pub fn tokens(text: &str, segmentation: Segmentation) -> Vec<Token> {
    let mut out = Vec::new();
    let mut stemmer = english_stemmer();
    for run in runs(text) {
        match run.script {
            Script::Han => han_tokens(text, run.start, run.end, segmentation, &mut out),
            Script::Word => word_token(text, run.start, run.end, &mut stemmer, &mut out),
        }
    }
    for (position, token) in out.iter_mut().enumerate() {
        token.position = position;
    }
    out
}

/// The terms of `text` alone, in order, as the index would see them.
pub fn terms(text: &str, segmentation: Segmentation) -> Vec<String> {
    tokens(text, segmentation)
        .into_iter()
        .map(|t| t.text)
        .collect()
}

/// True for the characters jieba should see: CJK unified ideographs (with extensions A
/// to F and the compatibility block) and 〇.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3007
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2EBEF)
}

/// The tantivy [`Tokenizer`](tantivy::tokenizer::Tokenizer) over [`tokens`] in
/// [`Segmentation::Search`] mode. Cloning is cheap: the dictionary is shared.
#[derive(Clone, Default)]
pub struct MixedTokenizer {
    tokens: Vec<Token>,
}

impl TantivyTokenizer for MixedTokenizer {
    type TokenStream<'a> = MixedTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> MixedTokenStream<'a> {
        // The tokens are computed eagerly into a buffer the tokenizer keeps, so one
        // tokenizer reused over many documents allocates the vector once.
        self.tokens.clear();
        self.tokens.extend(tokens(text, Segmentation::Search));
        MixedTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
    }
}

/// The token stream of [`MixedTokenizer`].
pub struct MixedTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for MixedTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// The analyzer to register on an index under [`TOKENIZER_NAME`].
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::from(MixedTokenizer::default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Han,
    Word,
}

struct Run {
    script: Script,
    start: usize,
    end: usize,
}

/// Splits `text` into maximal runs of Han characters and of other word characters;
/// whatever lies between them is a separator and is dropped.
fn runs(text: &str) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut current: Option<Run> = None;
    for (i, c) in text.char_indices() {
        let script = if is_han(c) {
            Some(Script::Han)
        } else if c.is_alphanumeric() {
            Some(Script::Word)
        } else {
            None
        };
        match (&mut current, script) {
            (Some(run), Some(s)) if run.script == s => run.end = i + c.len_utf8(),
            (_, s) => {
                if let Some(run) = current.take() {
                    out.push(run);
                }
                current = s.map(|script| Run {
                    script,
                    start: i,
                    end: i + c.len_utf8(),
                });
            }
        }
    }
    out.extend(current);
    out
}

fn han_tokens(
    text: &str,
    start: usize,
    end: usize,
    segmentation: Segmentation,
    out: &mut Vec<Token>,
) {
    let run = &text[start..end];
    let words = match segmentation {
        Segmentation::Search => JIEBA.cut_for_search(run, true),
        Segmentation::Precise => JIEBA.cut(run, true),
    };
    let first = out.len();
    for w in words {
        if is_stop_word(w.word) {
            continue;
        }
        out.push(Token {
            offset_from: start + w.byte_start,
            offset_to: start + w.byte_end,
            position: 0,
            text: w.word.to_owned(),
            position_length: 1,
        });
    }
    // Search mode lists the words inside a longer word before the word itself; the
    // snippet generator needs offsets that never go backwards.
    out[first..].sort_by_key(|t| (t.offset_from, t.offset_to));
}

fn word_token(
    text: &str,
    start: usize,
    end: usize,
    stemmer: &mut TextAnalyzer,
    out: &mut Vec<Token>,
) {
    let word = &text[start..end];
    if word.len() > MAX_TOKEN_BYTES {
        return;
    }
    // Chinese input methods often type letters and digits full width ("ｒｅｓｅｔ",
    // "１００"): they are the same words.
    let lower: String = word
        .chars()
        .map(|c| match c as u32 {
            0xFF10..=0xFF19 | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .collect::<String>()
        .to_lowercase();
    let mut chars = lower.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_ascii_alphabetic() {
            return;
        }
    }
    if is_stop_word(&lower) {
        return;
    }
    let text = if lower.len() > 2 && lower.bytes().all(|b| b.is_ascii_lowercase()) {
        stem(stemmer, &lower)
    } else {
        lower
    };
    out.push(Token {
        offset_from: start,
        offset_to: end,
        position: 0,
        text,
        position_length: 1,
    });
}

fn english_stemmer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(Stemmer::default())
        .build()
}

fn stem(stemmer: &mut TextAnalyzer, word: &str) -> String {
    let mut stream = stemmer.token_stream(word);
    if stream.advance() {
        stream.token().text.clone()
    } else {
        word.to_owned()
    }
}

/// Words that carry no meaning for search or clustering in either language: function
/// words, greetings and the politeness of ticket writing ("请问", "麻烦", "please").
/// Matched before stemming, on lowercased text.
fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Sorted (by byte order), so that [`is_stop_word`] can binary-search it; a test keeps
/// it sorted.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "been",
    "before",
    "being",
    "both",
    "but",
    "by",
    "can",
    "could",
    "dear",
    "did",
    "do",
    "does",
    "down",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "he",
    "hello",
    "her",
    "here",
    "hi",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "my",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "please",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "to",
    "under",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "一",
    "一下",
    "一个",
    "下",
    "不",
    "与",
    "个",
    "为",
    "为什么",
    "之",
    "也",
    "了",
    "些",
    "什么",
    "从",
    "他",
    "他们",
    "们",
    "会",
    "但",
    "位",
    "你",
    "你们",
    "你好",
    "其",
    "到",
    "办",
    "又",
    "及",
    "可以",
    "台",
    "吗",
    "吧",
    "呀",
    "呢",
    "咋",
    "和",
    "哦",
    "哪",
    "哪里",
    "啊",
    "啦",
    "嘛",
    "因为",
    "在",
    "地",
    "她",
    "她们",
    "如何",
    "如果",
    "它",
    "它们",
    "对",
    "就",
    "已",
    "已经",
    "并",
    "很",
    "得",
    "怎么",
    "怎么办",
    "怎么样",
    "怎样",
    "您",
    "您好",
    "想",
    "我",
    "我们",
    "我司",
    "或",
    "所以",
    "把",
    "是",
    "有",
    "条",
    "次",
    "此",
    "比较",
    "没有",
    "现在",
    "的",
    "目前",
    "着",
    "种",
    "等",
    "等等",
    "给",
    "而",
    "能否",
    "被",
    "要",
    "让",
    "该",
    "请",
    "请问",
    "谢谢",
    "贵司",
    "过",
    "还",
    "这",
    "这个",
    "那",
    "那个",
    "都",
    "非常",
    "麻烦",
];

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    fn check(text: &str, segmentation: Segmentation, expect: Expect) {
        let shown: Vec<String> = tokens(text, segmentation)
            .iter()
            .map(|t| {
                let surface = &text[t.offset_from..t.offset_to];
                if surface == t.text {
                    t.text.clone()
                } else {
                    format!("{}({surface})", t.text)
                }
            })
            .collect();
        expect.assert_eq(&shown.join(" "));
    }

    #[test]
    fn stop_words_are_sorted_so_binary_search_finds_them() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn english_is_lowercased_stemmed_and_stripped_of_stop_words() {
        check(
            "How do I reset the passwords of my RDS instances? Connections keep failing!",
            Segmentation::Search,
            expect!["reset password(passwords) rds(RDS) instanc(instances) connect(Connections) keep fail(failing)"],
        );
    }

    #[test]
    fn chinese_search_mode_yields_the_words_inside_longer_words() {
        check(
            "数据库连接数过多，应用报错",
            Segmentation::Search,
            expect!["数据 数据库 据库 连接 连接数 过多 应用 报错"],
        );
        check(
            "数据库连接数过多，应用报错",
            Segmentation::Precise,
            expect!["数据库 连接数 过多 应用 报错"],
        );
    }

    #[test]
    fn mixed_text_keeps_digits_and_drops_punctuation() {
        check(
            "RDS 连接数 too many connections (error 1040)，双11前请扩容到100台",
            Segmentation::Search,
            expect!["rds(RDS) 连接 连接数 too mani(many) connect(connections) error 1040 双 11 前 扩容 100"],
        );
    }

    #[test]
    fn full_width_letters_and_digits_are_the_same_words() {
        check(
            "ＲＤＳ　ｐａｓｓｗｏｒｄｓ　１００台",
            Segmentation::Search,
            expect!["rds(ＲＤＳ) password(ｐａｓｓｗｏｒｄｓ) 100(１００)"],
        );
    }

    #[test]
    fn single_letters_and_long_blobs_are_not_tokens() {
        check(
            "the merchant's key is 3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA== ok",
            Segmentation::Search,
            expect!["merchant key 3q2 ok"],
        );
    }

    #[test]
    fn offsets_never_go_backwards() {
        let text = "中华人民共和国的数据库连接池配置与负载均衡健康检查";
        let ts = tokens(text, Segmentation::Search);
        assert!(ts.len() > 5);
        for pair in ts.windows(2) {
            assert!(pair[0].offset_from <= pair[1].offset_from, "{pair:?}");
        }
        for t in &ts {
            assert!(text.is_char_boundary(t.offset_from) && text.is_char_boundary(t.offset_to));
        }
    }

    #[test]
    fn the_tantivy_tokenizer_streams_the_same_tokens() {
        let text = "多可用区部署 multi-zone deployment";
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut streamed = Vec::new();
        while let Some(t) = stream.next() {
            streamed.push(t.clone());
        }
        assert_eq!(streamed, tokens(text, Segmentation::Search));
    }
}
