//! Customers as they go over the wire, kept beside their rows.
//!
//! `ListCustomers` answers from these encodings instead of building each customer
//! from its row on every call (which cost about three quarters of the call), and
//! `GetCustomer` decodes its answer from them instead of reading the customer's
//! columns and tenure periods and converting them ([`decode`]). Every
//! write of a customer stores, in the same statement as the row itself, the
//! `Customer` message without its equality answers, and the answers apart, as
//! their own field: a page is then the encodings as stored, each followed by its
//! answers for a caller allowed to see them or by the note that they are withheld
//! ([`withheld_equality`]). The encodings are made by the same conversion every
//! other answer uses, so the two cannot drift apart; [`FORMAT`] says which version
//! of that conversion made a row's, and a row of another (or none, as rows written
//! before encodings were kept) is answered from its columns instead.

use std::sync::OnceLock;

use contracts::involve::profiles::v1 as pb;
use prost::Message as _;

use crate::api::convert::customer_into_proto;
use crate::domain::Customer;
use crate::store::EncodedCustomer;

/// The version of the conversion the stored encodings were made with. Raise it
/// whenever `customer_into_proto` or the `Customer` message changes: rows with an
/// older format are answered from their columns until they are written again.
pub const FORMAT: i32 = 1;

/// The `Customer` message's field that holds the equality answers.
const EQUALITY_FIELD: u32 = 21;

/// What the store keeps of one customer's encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerEncoding {
    /// The `Customer` message without its equality answers.
    pub body: Vec<u8>,
    /// The equality answers as field 21 (tag, length and message), for callers
    /// allowed to see them.
    pub equality: Vec<u8>,
    /// Whether any equality answer is held: showing this customer to such a
    /// caller reads special-category data, and the read is audited.
    pub equality_recorded: bool,
}

/// The encoding of `customer` as every caller may be shown it.
pub fn encode(customer: Customer) -> CustomerEncoding {
    let equality_recorded = customer.details.equality.any_recorded();
    let mut message = customer_into_proto(customer, true);
    let answers = message.equality.take().unwrap_or_default();
    let mut equality = Vec::with_capacity(answers.encoded_len() + 4);
    prost::encoding::message::encode(EQUALITY_FIELD, &answers, &mut equality);
    CustomerEncoding { body: message.encode_to_vec(), equality, equality_recorded }
}

/// Field 21 for a caller not allowed to see equality answers: withheld, as
/// `customer_into_proto` says it for such a caller.
pub fn withheld_equality() -> &'static [u8] {
    static WITHHELD: OnceLock<Vec<u8>> = OnceLock::new();
    WITHHELD.get_or_init(|| {
        let withheld = pb::EqualityInformation { withheld: true, ..pb::EqualityInformation::default() };
        let mut field = Vec::new();
        prost::encoding::message::encode(EQUALITY_FIELD, &withheld, &mut field);
        field
    })
}

/// The message a stored encoding holds, with the equality answers for a caller
/// allowed to see them and withheld otherwise: the message
/// `customer_into_proto` made it from.
pub fn decode(customer: &EncodedCustomer, show_equality: bool) -> Result<pb::Customer, prost::DecodeError> {
    let mut message = pb::Customer::decode(customer.body.as_ref())?;
    // Field 21 merged after the body, as a client reads the two sent one after the other.
    let equality = if show_equality { customer.equality.as_ref() } else { withheld_equality() };
    message.merge(equality)?;
    Ok(message)
}

/// `customer` as every answer read from its columns shows it: the conversion the
/// encodings are made by, for comparing the two.
pub fn message(customer: Customer, show_equality: bool) -> pb::Customer {
    customer_into_proto(customer, show_equality)
}
