//! Which new passwords are refused: shorter than 8 characters, or one of the passwords people
//! pick most (the start of the breached-password lists: "password", "12345678", "qwerty123"
//! ...), compared without case and with trailing digits and punctuation trimmed, or the email
//! address itself. Sign-up, reset and change all ask [`refusal`].

/// The shortest password accepted.
pub const MIN_CHARS: usize = 8;

/// Passwords (lowercase, without trailing digits or punctuation) that are refused whatever is
/// appended: each heads every breached-password list.
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "abc",
    "abcdef",
    "abcdefgh",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "sunshine",
    "princess",
    "master",
    "shadow",
    "superman",
    "trustno",
    "whatever",
    "starwars",
    "computer",
    "michael",
    "jennifer",
    "hello",
    "freedom",
    "login",
    "secret",
    "changeme",
    "default",
    "mailbox",
    "smartbox",
    "smartmailbox",
    "qazwsx",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "access",
    "mustang",
    "charlie",
    "pokemon",
    "batman",
    "liverpool",
    "chelsea",
    "arsenal",
    "ninja",
    "soccer",
    "hockey",
    "killer",
    "matrix",
];

/// Whole passwords that are refused (the all-digit favourites).
const COMMON_WHOLE: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "00000000",
    "12341234",
    "11223344",
    "01234567",
    "123123123",
    "147258369",
    "987654321",
];

/// Why `password` is refused for the account `email`, as the form says it; `None` to accept.
pub fn refusal(password: &str, email: &str) -> Option<&'static str> {
    if password.chars().count() < MIN_CHARS {
        return Some("The password must have at least 8 characters.");
    }
    let lower = password.to_lowercase();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let one_char = lower.chars().all(|c| lower.starts_with(c));
    if COMMON.contains(&stem) || COMMON_WHOLE.contains(&lower.as_str()) || one_char {
        return Some(
            "This password is one of the most common ones and easy to guess. Choose another, \
             for example three or four unrelated words.",
        );
    }
    let email = email.trim().to_lowercase();
    if !email.is_empty()
        && (lower == email || email.split('@').next().is_some_and(|local| lower == local))
    {
        return Some("The password must not be your email address.");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_and_short_passwords_are_refused() {
        for weak in [
            "password",
            "Password1",
            "PASSWORD!",
            "12345678",
            "qwerty123",
            "aaaaaaaaaa",
            "letmein!!",
            "short",
        ] {
            assert!(refusal(weak, "ada@example.com").is_some(), "{weak}");
        }
        assert!(refusal("ada@example.com", "ada@example.com").is_some());
        assert!(refusal("adalovelace", "adalovelace@example.com").is_some());
        for fine in [
            "correct horse battery",
            "seeded account passphrase",
            "Tr0ub4dor&3x",
        ] {
            assert_eq!(refusal(fine, "ada@example.com"), None, "{fine}");
        }
    }
}
