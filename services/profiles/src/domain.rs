//! The rules of customer profiles, in plain Rust: what a valid customer is, who may
//! see what, how tenure changes, how imports compare, how profile maps are read.
//! Nothing here knows about gRPC or SQL.

pub mod access;
pub mod customer;
pub mod equality_groups;
pub mod profile_map;
pub mod reference;
pub mod tenure;
pub mod validate;

pub use customer::{
    CommunicationNeeds, ContactChannel, ContactDetails, Customer, CustomerDetails, CustomerId, CustomerState,
    EqualityAnswer, EqualityField, EqualityInformation, Household, HouseholdMember, InvolvementInterests,
    LawfulBasis, OrganisationName, Property, TenurePeriod,
};
pub use reference::{Code, ReferenceData, ReferenceSet};
