//! vendor-match: match Friendly Vendor's users with ours and load them into the warehouse.
