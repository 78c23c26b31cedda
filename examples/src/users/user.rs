//! [`User`]: one row of the users table, as it is cached (L1 and Redis L2)
//! and served.

use serde::{Deserialize, Serialize};

/// One user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id (1 to the number of seeded users).
    pub id: u64,
    /// The display name, `user-<id>` when seeded.
    pub name: String,
    /// The e-mail address, `user<id>@example.com` when seeded.
    pub email: String,
}

impl User {
    /// The user as JSON, with the recommended user ids and whether they are
    /// the fallback list.
    pub fn to_json(&self, recommended: &[u64], fallback: bool) -> String {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "recommended": recommended,
            "recommendations_fallback": fallback,
        })
        .to_string()
    }
}
