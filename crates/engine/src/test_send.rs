//! The test-send rules, shared by `broadcasters test` and the dashboard's
//! `POST /api/v1/test-send`: which text goes, to which chats, under which journal label, and
//! why a broadcaster cannot be tested. Carrying it out is [`crate::DriverHandle::test_send`].

use smb_domain::{ContentError, MessageSet, TargetRef};

use crate::driver::TestSend;
use crate::planner::Content;

/// The journal's broadcaster name for `broadcaster`'s test sends: `test:NAME`, so they never
/// count as one of its cycles.
pub fn test_label(broadcaster: &str) -> String {
    format!("test:{broadcaster}")
}

/// What a test send of one broadcaster is made from, as the running state has it (stored
/// message versions and targets added from the dashboard included).
#[derive(Debug, Clone, Copy)]
pub struct TestSubject<'a> {
    /// The broadcaster's name (the label becomes `test:NAME`).
    pub broadcaster: &'a str,
    /// The account that sends it.
    pub account: &'a str,
    /// The name of its `test_targets` list and that list's targets; `None` without one.
    pub test_list: Option<(&'a str, &'a [TargetRef])>,
    /// Its message set's current texts.
    pub messages: &'a MessageSet,
    /// Format and media of its texts, as a real send would use them.
    pub content: &'a Content,
}

/// Why a broadcaster's test send cannot go. The message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestRefusal {
    /// The broadcaster names no `test_targets` list.
    #[error(
        "broadcaster `{0}` has no test list: add `test_targets = \"test\"` to [broadcasters.{0}]"
    )]
    NoTestList(String),
    /// The named test list has no targets.
    #[error("test list `{0}` is empty")]
    EmptyList(String),
    /// The operator asked for text number 0 (numbers are 1-based).
    #[error("message numbers start at 1")]
    NumberZero,
    /// The asked number is past the set's last text.
    #[error("message set `{set}` has no such message ({count} texts)")]
    NoSuchText {
        /// The message set's name.
        set: String,
        /// How many texts it has.
        count: usize,
    },
    /// The text would be refused by Telegram (the one formatter's check, as it will be sent),
    /// so it is not sent to fail chat by chat.
    #[error("this message of set `{set}` cannot be sent: {error}")]
    CannotSend {
        /// The message set's name.
        set: String,
        /// What the formatter refused.
        error: ContentError,
    },
}

/// A ready test send and the name of the list it goes to.
#[derive(Debug, Clone)]
pub struct TestPlan {
    /// The name of the `test_targets` list it goes to.
    pub test_list: String,
    /// The send itself, for the driver.
    pub send: TestSend,
}

/// The test send of `subject`: text number `message` of its set (1-based, as the operator
/// counts; default the first active text) to every chat of its test list, from its account,
/// with its content settings, labelled [`test_label`]. Refused, in this order, without a test
/// list, with an empty one, with no such text, or with a text Telegram would refuse.
pub fn plan_test_send(
    subject: &TestSubject<'_>,
    message: Option<usize>,
) -> Result<TestPlan, TestRefusal> {
    let Some((list, targets)) = subject.test_list else {
        return Err(TestRefusal::NoTestList(subject.broadcaster.to_owned()));
    };
    if targets.is_empty() {
        return Err(TestRefusal::EmptyList(list.to_owned()));
    }
    let set = subject.messages;
    let text = match message {
        None => set.messages.iter().find(|m| m.active),
        Some(0) => return Err(TestRefusal::NumberZero),
        Some(n) => set.messages.get(n - 1),
    };
    let Some(text) = text.map(|m| m.text.clone()) else {
        return Err(TestRefusal::NoSuchText {
            set: set.name.clone(),
            count: set.messages.len(),
        });
    };
    let content = subject.content;
    if let Err(error) = smb_domain::prepare(&text, content.format, content.has_media()) {
        return Err(TestRefusal::CannotSend {
            set: set.name.clone(),
            error,
        });
    }
    Ok(TestPlan {
        test_list: list.to_owned(),
        send: TestSend {
            label: test_label(subject.broadcaster),
            account: subject.account.to_owned(),
            targets: targets.to_vec(),
            text,
            content: content.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use smb_domain::Message;

    use super::*;

    fn set() -> MessageSet {
        let mut off = Message::new("off");
        off.active = false;
        MessageSet::new(
            "b2b",
            vec![off, Message::new("first active"), Message::new("")],
        )
    }

    fn subject<'a>(
        list: Option<(&'a str, &'a [TargetRef])>,
        messages: &'a MessageSet,
        content: &'a Content,
    ) -> TestSubject<'a> {
        TestSubject {
            broadcaster: "b2b",
            account: "acc1",
            test_list: list,
            messages,
            content,
        }
    }

    #[test]
    fn the_first_active_text_goes_to_the_test_list_under_test_name() {
        let (set, content) = (set(), Content::default());
        let chats = [TargetRef::parse("@my_test_group").expect("target")];
        let plan =
            plan_test_send(&subject(Some(("test", &chats)), &set, &content), None).expect("a plan");
        assert_eq!(plan.test_list, "test");
        assert_eq!(plan.send.label, "test:b2b");
        assert_eq!(plan.send.account, "acc1");
        assert_eq!(plan.send.text, "first active");
        assert_eq!(plan.send.targets, chats);
        let second = plan_test_send(&subject(Some(("test", &chats)), &set, &content), Some(1))
            .expect("a plan");
        assert_eq!(second.send.text, "off", "a number picks inactive texts too");
    }

    #[test]
    fn each_refusal_says_what_is_wrong() {
        let (set, content) = (set(), Content::default());
        let chats = [TargetRef::parse("@my_test_group").expect("target")];
        let refused = |list, n| {
            plan_test_send(&subject(list, &set, &content), n)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            refused(None, None),
            "broadcaster `b2b` has no test list: add `test_targets = \"test\"` to [broadcasters.b2b]"
        );
        assert_eq!(
            refused(Some(("test", &[])), None),
            "test list `test` is empty"
        );
        assert_eq!(
            refused(Some(("test", &chats)), Some(0)),
            "message numbers start at 1"
        );
        assert_eq!(
            refused(Some(("test", &chats)), Some(4)),
            "message set `b2b` has no such message (3 texts)"
        );
        assert!(
            refused(Some(("test", &chats)), Some(3))
                .starts_with("this message of set `b2b` cannot be sent: the text is empty"),
            "an empty text is checked as it would be sent"
        );
    }
}
