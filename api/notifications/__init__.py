"""Telling residents what they asked to hear: reminders of their appointments (`reminders`, sent by
`dispatch`) and announcements of mobile teams' visits to their commune (`broadcasts`), both run by one
`scheduler` and stopped through one router."""
