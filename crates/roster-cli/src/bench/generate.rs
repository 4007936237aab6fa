//! Deterministic, realistic HR records for benchmarks and load tests: the
//! same seed always yields the same people, with managers forming a tree.

use serde_json::Value;

const GIVEN: [&str; 24] = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "John",
    "Margaret",
    "Ken",
    "Radia",
    "Dennis",
    "Katherine",
    "Tim",
    "Hedy",
    "Linus",
    "Sophie",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Anita",
    "Guido",
    "Yukihiro",
    "Fran",
];
const FAMILY: [&str; 24] = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "McCarthy",
    "Hamilton",
    "Thompson",
    "Perlman",
    "Ritchie",
    "Johnson",
    "Berners-Lee",
    "Lamarr",
    "Torvalds",
    "Wilson",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Borg",
    "van Rossum",
    "Matsumoto",
    "Bilas",
];
const DEPARTMENTS: [&str; 12] = [
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "People",
    "Legal",
    "Support",
    "Operations",
    "Research",
    "Design",
    "Security",
    "Procurement",
];
const TITLES: [&str; 10] = [
    "Analyst",
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Specialist",
    "Coordinator",
    "Consultant",
    "Associate",
    "Lead",
];
const LOCATIONS: [&str; 8] =
    ["Berlin", "London", "New York", "Singapore", "Toronto", "Paris", "Sydney", "Austin"];

/// Each manager has this many direct reports in the generated tree.
pub const SPAN_OF_CONTROL: u64 = 8;

/// A generator of people `0..n` for one seed.
#[derive(Debug, Clone, Copy)]
pub struct PeopleGenerator {
    pub seed: u64,
}

impl PeopleGenerator {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    pub fn external_id(i: u64) -> String {
        format!("E{i:07}")
    }

    /// Person `i`. `revision` changes the title so the same person can be
    /// sent again as a mover.
    pub fn person(&self, i: u64, revision: u64) -> Value {
        let mut json = String::new();
        self.write_person(&mut json, i, revision);
        serde_json::from_str(&json).expect("the generator writes valid JSON")
    }

    /// Person `i` as JSON text appended to `out`: what the load generator
    /// sends, written directly because it runs on the same two cores as the
    /// server it measures. No generated string needs escaping (the word
    /// lists are plain; the unit test parses every field back).
    pub fn write_person(&self, out: &mut String, i: u64, revision: u64) {
        use std::fmt::Write;
        let h = mix(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let pick = |shift: u32, len: usize| ((h >> shift) as usize) % len;
        let given = GIVEN[pick(0, GIVEN.len())];
        let family = FAMILY[pick(8, FAMILY.len())];
        let email =
            format!("{}.{}{i}@example.com", given.to_lowercase(), family.to_lowercase().replace(' ', ""));
        let title = TITLES[(pick(16, TITLES.len()) + revision as usize) % TITLES.len()];
        let department = DEPARTMENTS[pick(24, DEPARTMENTS.len())];
        let location = LOCATIONS[pick(40, LOCATIONS.len())];
        let (year, month, day) = (10 + (h >> 48) % 15, 1 + (h >> 52) % 12, 1 + (h >> 56) % 28);
        let _ = write!(
            out,
            r#"{{"externalId":"E{i:07}","userName":"{email}","name":{{"givenName":"{given}","familyName":"{family}"}},"displayName":"{given} {family}","emails":[{{"value":"{email}","type":"work","primary":true}}],"title":"{title}","department":"{department}","costCenter":"CC-{:04}","location":"{location}","employeeNumber":"{i}","employmentStatus":"active","hireDate":"20{year:02}-{month:02}-{day:02}""#,
            (h >> 32) % 200
        );
        if i > 0 {
            let _ = write!(out, r#","manager":"E{:07}""#, (i - 1) / SPAN_OF_CONTROL);
        }
        out.push('}');
    }
}

/// splitmix64's finaliser: a well-spread 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The columns of [`PeopleGenerator::csv_row`]: canonical names, so the
/// identity mapping profile reads them.
pub const CSV_HEADER: &str = "externalId,userName,name.givenName,name.familyName,displayName,emails,title,\
                              department,costCenter,location,employeeNumber,employmentStatus,hireDate,manager";

impl PeopleGenerator {
    /// Person `i` as a CSV row under [`CSV_HEADER`].
    pub fn csv_row(&self, i: u64) -> String {
        let p = self.person(i, 0);
        let cell = |v: &serde_json::Value| -> String {
            let s = v.as_str().unwrap_or_default();
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        [
            cell(&p["externalId"]),
            cell(&p["userName"]),
            cell(&p["name"]["givenName"]),
            cell(&p["name"]["familyName"]),
            cell(&p["displayName"]),
            cell(&p["emails"][0]["value"]),
            cell(&p["title"]),
            cell(&p["department"]),
            cell(&p["costCenter"]),
            cell(&p["location"]),
            cell(&p["employeeNumber"]),
            cell(&p["employmentStatus"]),
            cell(&p["hireDate"]),
            cell(&p["manager"]),
        ]
        .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_people_and_every_record_is_valid() {
        let g = PeopleGenerator::new(7);
        assert_eq!(g.person(42, 0), g.person(42, 0));
        assert_ne!(g.person(42, 0), PeopleGenerator::new(8).person(42, 0));
        for i in 0..500 {
            let rec = roster_core::validate::parse_record(&g.person(i, i % 3));
            assert!(rec.is_ok(), "person {i}: {:?}", rec.err());
        }
        assert_eq!(g.person(9, 0)["manager"], "E0000001");
        assert!(g.person(0, 0).get("manager").is_none());
    }
}
